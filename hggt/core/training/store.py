"""What a training run leaves on storage, for both trainers (enhancers and Real-ISR): its
checkpoints (resumed only under the same compatibility key), its model file and the record that
lets a later run tell a finished, intact model from one to train again."""

from __future__ import annotations

import io
import json
import posixpath
from collections.abc import Callable

import torch

from hggt.core import catalog, storage
from hggt.core.checkpoints import torch_load

# Settings that change how a run is observed or saved, not what it computes: a checkpoint stays
# compatible when they change, so a run can also be extended to more iterations.
NOT_IN_KEY = frozenset({"iterations", "checkpoint_every", "keep_checkpoints", "log_every", "device"})


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
        state = torch_load(fs.cat_file(name), name)
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


def read_record(folder: str) -> dict | None:
    try:
        return json.loads(storage.read_bytes(storage.join(folder, catalog.TRAINING_RECORD)))
    except (FileNotFoundError, ValueError):
        return None


def write_record(folder: str, key: str, row: dict) -> None:
    storage.atomic_write(storage.join(folder, catalog.TRAINING_RECORD), json.dumps({"key": key, "row": row}, sort_keys=True).encode())


def finished_record(folder: str, key: str, iterations: int, model: str = catalog.MODEL_FILE) -> dict | None:
    """The manifest row recorded when the model in ``folder`` finished training, if it was trained
    under ``key`` to ``iterations`` and its file is still the one recorded: the facts (losses,
    seconds, device) travel with the model, so a run outside the Prefect cache that produced it
    (another PREFECT_HOME, machine or location) keeps them."""
    record = read_record(folder)
    if not record or record.get("key") != key or record["row"].get("iterations") != iterations:
        return None
    row = record["row"]
    return row if storage.holds(storage.join(folder, model), row["sha256"]) else None
