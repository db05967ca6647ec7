"""How training tasks (train-enhancers and train-sr) are observed and cached in Prefect: loss
curves and speed reports as dashboard artifacts, the recipe's hooks, and the check that a cached
training result still has its model file. The training itself is hggt.core.training.recipe."""

from __future__ import annotations

from collections.abc import Callable

from prefect import Task, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture

from hggt.core import catalog, storage
from hggt.core.checkpoints import load_trained  # noqa: F401 - export and evaluate read trained models through it
from hggt.core.training.history import TERM_NAMES
from hggt.core.training.history import from_csv as history_from_csv
from hggt.core.training.history import to_csv as history_to_csv
from hggt.core.training.recipe import RunHooks
from hggt.tasks import faults
from hggt.tasks.progress import DashboardProgress, artifact_key, in_prefect_run, run_logger


def publish_table(key: str, table: list[dict], description: str, root: str) -> None:
    if in_prefect_run():
        create_table_artifact(key=artifact_key(key, root), table=table, description=f"{description} ({root})")


def publish_markdown(key: str, markdown: str, description: str, root: str) -> None:
    if in_prefect_run():
        create_markdown_artifact(key=artifact_key(key, root), markdown=markdown, description=f"{description} ({root})")


class LossLog:
    """The training loop's report callback; ``close`` once training ends sends the last progress."""

    def __init__(self, log: Callable[[int, dict], None], progress: DashboardProgress):
        self._log, self.progress = log, progress

    def __call__(self, iteration: int, logs: dict) -> None:
        self._log(iteration, logs)

    def close(self) -> None:
        self.progress.wait()


def loss_logger(
    name: str, title: str, total: int, root: str, stage: str, run: str, folder: str | None = None, start: int = 0,
) -> tuple[LossLog, list[dict]]:
    """Logs each report and keeps the loss curve as a table artifact in the dashboard and, with
    ``folder``, as ``folder/losses.csv`` for the report; shows iterations done out of ``total``
    with the latest losses and an ETA (dashboard and terminal). A run resumed at iteration
    ``start`` keeps the rows its earlier process wrote up to that checkpoint. The caller closes
    the returned log when training ends."""
    logger = run_logger()
    history: list[dict] = []
    url = storage.join(folder, catalog.LOSSES_FILE) if folder else None
    if url and start > 0 and storage.exists(url):
        history += [r for r in history_from_csv(storage.read_bytes(url)) if r["iteration"] <= start]

    progress = DashboardProgress(stage, total, root, unit="iterations", title=run, card=True, done=start)

    def log(iteration: int, logs: dict) -> None:
        faults.checkpoint(name)
        history.append({"iteration": iteration, **{k: round(v, 6) for k, v in logs.items()}})
        # what people read calls the stage's extra term by its name (train-sr: the negative-GT loss);
        # losses.csv keeps the trainer's column name, which the report reads
        shown = {TERM_NAMES.get(k, k): v for k, v in logs.items()}
        logger.info("%s iteration %d/%d: %s", title, iteration, total, {k: round(v, 6) for k, v in shown.items()})
        rows = history[-200:]
        # Sent from the progress thread: an API round trip per report would stall the loop.
        progress.update(iteration, shown, deferred=lambda: publish_table(f"{name}-losses", rows, f"Loss curve of {title}", root))
        if url:  # rewritten whole at every report (a few kB), so a crash leaves the curve up to it
            storage.atomic_write(url, history_to_csv(history))

    return LossLog(log, progress), history


def publish_speed(key: str, title: str, speed: dict[str, float], root: str) -> None:
    """The run's speed report as a dashboard table: throughput and where step time goes."""
    rows = [{"measure": k.replace("share_", "share of step time: "), "value": round(v, 4)} for k, v in speed.items()]
    publish_table(key, rows, f"Training speed of {title}", root)
    run_logger().info("%s speed: %s", title, {k: round(v, 3) for k, v in speed.items()})


def run_hooks(name: str, title: str, total: int, root: str, stage: str, run: str, folder: str, speed_title: str, logger=None,
              on_trained=None) -> RunHooks:
    """The recipe's hooks in a training task: the loss curve as a dashboard table and
    ``folder``/losses.csv, a progress card, and the speed report as a table (``name`` keys the
    artifacts; ``title``, ``run`` and ``speed_title`` name the run in logs, on the card and in
    the speed report)."""
    return RunHooks(
        logger=logger or run_logger(),
        open_log=lambda start: loss_logger(name, title, total, root, stage, run, folder, start),
        on_speed=lambda speed: publish_speed(f"{name}-speed", speed_title, speed, root),
        on_trained=on_trained,
    )


def verified_result(task: Task, params: dict, future: PrefectFuture, root: str, what: str) -> tuple[dict, bool]:
    """A training task's row and whether it was reused, not trained: a Prefect cache hit counts
    only while the model file it names is the one it recorded; otherwise the model is trained again
    (with the task's own resume, so a finished checkpoint still saves the work)."""
    row = future.result()
    if future.state.name != "Cached":
        return row, bool(row.get("reused"))  # a cache miss that found the finished model's record
    if storage.holds(storage.resolve(root, row["checkpoint_uri"]), row["sha256"]):
        return row, True
    get_run_logger().warning("%s: cached model file missing or altered; training again", what)
    row = task.with_options(refresh_cache=True).submit(**params).result()
    return row, bool(row.get("reused"))
