"""Checkpoints and loss curves of training tasks (shared by train-enhancers and train-sr)."""

from __future__ import annotations

import io
import posixpath
from collections.abc import Callable

import torch
from prefect import get_run_logger
from prefect.artifacts import create_table_artifact

from hggt_core import storage
from tasks import faults


def to_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _checkpoints(folder: str) -> list[str]:
    fs, path = storage.url_to_fs(folder)
    try:
        return sorted(p for p in fs.ls(path, detail=False) if posixpath.basename(p).startswith("iter_"))
    except FileNotFoundError:
        return []


def latest_checkpoint(folder: str, key: str) -> dict | None:
    """The newest checkpoint written under the same compatibility key, or None."""
    fs, _ = storage.url_to_fs(folder)
    for name in reversed(_checkpoints(folder)):
        state = torch.load(io.BytesIO(fs.cat_file(name)), map_location="cpu", weights_only=False)
        if state.get("key") == key:
            return state
    return None


def checkpoint_writer(folder: str, key: str, keep: int) -> Callable[[int, dict], None]:
    """Writes iter_<n>.pt atomically, keeping the ``keep`` newest."""
    fs, _ = storage.url_to_fs(folder)

    def write(iteration: int, state: dict) -> None:
        storage.atomic_write(storage.join(folder, f"iter_{iteration:08d}.pt"), to_bytes({**state, "key": key}))
        for old in _checkpoints(folder)[:-keep]:
            fs.rm_file(old)

    return write


def loss_logger(artifact_key: str, title: str, total: int) -> tuple[Callable[[int, dict], None], list[dict]]:
    """Logs each report and keeps the loss curve as a table artifact in the dashboard."""
    logger = get_run_logger()
    history: list[dict] = []

    def log(iteration: int, logs: dict) -> None:
        faults.checkpoint(artifact_key.split("-losses")[0])
        history.append({"iteration": iteration, **{k: round(v, 6) for k, v in logs.items()}})
        logger.info("%s iteration %d/%d: %s", title, iteration, total, history[-1])
        create_table_artifact(key=artifact_key, table=history[-200:], description=f"Loss curve of {title}")

    return log, history


def publish_speed(artifact_key: str, title: str, speed: dict[str, float]) -> None:
    """The run's speed report as a dashboard table: throughput and where step time goes."""
    rows = [{"measure": k.replace("share_", "share of step time: "), "value": round(v, 4)} for k, v in speed.items()]
    create_table_artifact(key=artifact_key, table=rows, description=f"Training speed of {title}")
    get_run_logger().info("%s speed: %s", title, {k: round(v, 3) for k, v in speed.items()})
