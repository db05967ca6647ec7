"""Dashboard artifacts scoped by dataset, and live progress of a stage on the dashboard and the terminal."""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.exceptions import MissingContextError
from rich.console import Console
from rich.errors import LiveError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hggt.core import storage

console = Console(stderr=True)
PROGRESS_INTERVAL_S = 1.0  # the progress artifact: updated in place, so a value a second is cheap
TABLE_INTERVAL_S = 600.0  # tables (loss curves): each post is a new artifact version kept by the server
ETA_WINDOW_S = 120.0  # the ETA follows the rate of the last two minutes
PLAIN_INTERVAL_S = 5.0  # plain lines in logs: often enough to see a run move, rarely enough to read
RUN_LOG_INTERVAL_S = 60.0  # the progress line in the run's log (`prefect deployment run --watch`, the dashboard)
PROGRESS_RECORD = "hggt_progress"  # set on those log records: a terminal showing the bar leaves them out


def dataset_tag(root: str) -> str:
    return hashlib.sha256(storage.normalize_root(root).encode()).hexdigest()[:8]


def artifact_key(name: str, root: str | None) -> str:
    """Artifact keys are global to a Prefect server: without the dataset's tag, two datasets built
    side by side overwrite each other's cards. Prefect allows lowercase letters, digits and dashes."""
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", name.lower())).strip("-")
    if root is None:
        return base[:100]
    return f"{base[:91]}-{dataset_tag(root)}"


def in_prefect_run() -> bool:
    """Inside a flow or task run (a torchrun worker process is not)."""
    try:
        get_run_logger()
        return True
    except MissingContextError:
        return False


def run_logger():
    """The run's logger (shown in the dashboard), or hggt's own where a task function is called directly."""
    return get_run_logger() if in_prefect_run() else logging.getLogger("hggt")


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA unknown"
    if seconds < 90:
        return f"ETA {max(seconds, 0):.0f} s"
    if seconds < 5400:
        return f"ETA {seconds / 60:.0f} min"
    return f"ETA {seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"


def losses_text(losses: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in losses.items() if isinstance(v, (int, float)))


class DashboardProgress:
    """A stage's progress as ``done`` out of ``total`` units: a progress artifact (and, with
    ``card``, a markdown card with the latest losses and an ETA) in the dashboard, and a bar on a
    terminal or plain lines in a log. ``update`` only records the value: a background thread sends
    the newest one (API round trips that the work need not wait for), at most once a second, so a
    training loop can call it at every report; ``wait`` returns once the last value is sent."""

    def __init__(self, stage: str, total: int, root: str | None = None, unit: str = "items", title: str | None = None,
                 card: bool = False, done: int = 0):
        self.stage, self.total, self.unit = stage, max(total, 0), unit
        self.title = f"{stage} {title}" if title else stage
        self.key = artifact_key(f"{stage}-progress" if title is None else f"{stage}-{title}-progress", root)
        self.card_key = artifact_key(f"{stage}-{title or ''}-status", root) if card else None
        self._started, self._start_done = time.monotonic(), done
        self._samples: deque[tuple[float, int]] = deque()
        self._eta_lock = threading.Lock()
        self._latest: tuple[int, dict, str] = (done, {}, "")
        self._deferred: Callable[[], None] | None = None
        self._cond = threading.Condition()
        self._dirty, self._closed = True, False
        self._bar = _TerminalBar(self.title, self.total, unit)
        self._bar.show(done, "")
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._send,),
                                        name=f"{stage}-progress", daemon=True)
        self._thread.start()

    def update(self, done: int, losses: dict | None = None, deferred: Callable[[], None] | None = None) -> None:
        """``deferred``: the newest of some other posting (a loss table) to send with the card."""
        line = self.line(done, losses or {})
        with self._cond:
            self._latest, self._dirty = (done, losses or {}, line), True
            self._deferred = deferred or self._deferred
            self._cond.notify()
        self._bar.show(done, line)

    def wait(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self._bar.close(self._latest[2])

    close = wait

    def eta(self, done: int) -> float | None:
        """Seconds left at the rate of the last ETA_WINDOW_S (so cached work done in a burst at the
        start, or a slow first shard, does not mislead for the rest of a long run)."""
        with self._eta_lock:
            return self._eta(done)

    def _eta(self, done: int) -> float | None:
        now = time.monotonic()
        samples = self._samples
        if not samples or samples[-1] != (now, done):
            samples.append((now, done))
        while len(samples) > 2 and now - samples[1][0] >= ETA_WINDOW_S:
            samples.popleft()
        (t0, d0), (t1, d1) = samples[0], samples[-1]
        if t1 - t0 < 1.0:  # too little observed yet: since the start
            t0, d0 = self._started, self._start_done
        rate = (d1 - d0) / max(t1 - t0, 1e-9)
        return (self.total - done) / rate if rate > 0 else None

    def line(self, done: int, losses: dict) -> str:
        parts = [f"{self.title}: {done}/{self.total} {self.unit}"]
        if losses:
            parts.append(losses_text(losses))
        if done < self.total:
            parts.append(eta_text(self.eta(done)))
        return ", ".join(parts)

    def _send(self) -> None:
        if not in_prefect_run():  # a torchrun worker: the terminal only
            return
        try:
            self._post()
        except Exception as exc:  # the dashboard going wrong must not fail the stage's work
            get_run_logger().warning("%s: could not update the progress artifact: %r", self.stage, exc)

    def _post(self) -> None:
        # One progress artifact per stage and run, updated in place: its value and its description
        # (the latest losses and the ETA). Cards and tables are new artifact versions each time, so
        # the status card is posted once, when the run ends, and the loss table at most every
        # TABLE_INTERVAL_S while it runs: a multi-day run leaves a handful, not thousands.
        sent = self._latest[0]
        sent_line = self._latest[2]
        artifact_id = create_progress_artifact(progress=self._percent(sent), key=self.key, description=self._description(sent_line))
        table_sent = logged = time.monotonic()
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._dirty or self._closed)
                self._dirty = False
                (done, losses, line), deferred, closing = self._latest, self._deferred, self._closed
            if done != sent or line != sent_line:
                update_progress_artifact(artifact_id, progress=self._percent(done), description=self._description(line))
                sent, sent_line = done, line
            # A watcher of the run (`--watch`, the dashboard's log) sees artifact updates as bare
            # events: the counts, losses and ETA go in the run's log too, once a minute and at the end.
            if line and (closing or time.monotonic() - logged >= RUN_LOG_INTERVAL_S):
                get_run_logger().info(line, extra={PROGRESS_RECORD: True})
                logged = time.monotonic()
            if deferred is not None and (closing or time.monotonic() - table_sent >= TABLE_INTERVAL_S):
                deferred()
                with self._cond:
                    self._deferred = None if self._deferred is deferred else self._deferred
                table_sent = time.monotonic()
            if closing:
                if self.card_key:
                    create_markdown_artifact(key=self.card_key, markdown=self._card(done, losses), description=f"{self.title}: final status")
                return
            with self._cond:  # at most one round of posts a second, however often the work reports
                self._cond.wait_for(lambda: self._closed, timeout=PROGRESS_INTERVAL_S)

    def _description(self, line: str) -> str:
        return line or f"{self.title}: {self.unit} done out of {self.total}"

    def _percent(self, done: int) -> float:
        return 100.0 * done / self.total if self.total else 100.0

    def _card(self, done: int, losses: dict) -> str:
        rows = [("done", f"{done} / {self.total} {self.unit} ({self._percent(done):.0f}%)"),
                ("remaining", eta_text(self.eta(done)) if done < self.total else "finished")]
        rows += [(k, f"{v:.6g}") for k, v in losses.items() if isinstance(v, (int, float))]
        return f"# {self.title}\n\n| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"


class _TerminalBar:
    """A rich bar on a terminal; elsewhere (a log file, a worker, CI) a plain line every few seconds."""

    def __init__(self, title: str, total: int, unit: str):
        self.off = bool(os.environ.get("HGGT_NO_PROGRESS"))
        self.tty = sys.stderr.isatty()
        self.title, self.total, self.unit = title, total, unit
        self.last_plain, self.printed = float("-inf"), False
        self.progress = None
        if not self.off and self.tty:
            progress = Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                TextColumn("{task.fields[note]}"), console=console)
            try:
                progress.start()
            except LiveError:  # another bar is showing (enhancers training side by side): plain lines
                return
            self.progress, self.task = progress, progress.add_task(title, total=total, note="")

    def show(self, done: int, line: str) -> None:
        if self.off:
            return
        if self.progress is not None:
            note = line.split(", ", 1)[1] if ", " in line else ""
            self.progress.update(self.task, completed=done, note=note)
        elif line and time.monotonic() - self.last_plain >= PLAIN_INTERVAL_S and done < self.total:
            console.print(line, soft_wrap=True, highlight=False, markup=False)
            self.last_plain, self.printed = time.monotonic(), True

    def close(self, line: str) -> None:
        if self.progress is not None:
            self.progress.stop()
        elif not self.off and self.printed and line:
            console.print(line, soft_wrap=True, highlight=False, markup=False)
