"""build-dataset's stage list: each stage pending, running, done or failed, in the dashboard and the log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact

from hggt.tasks.progress import artifact_key, console

MARKS = {"pending": "·", "running": "▶", "done": "✓", "failed": "✗"}


class StageList:
    """One progress artifact per build, updated in place at each change of state (stages done out
    of all, each stage's state in its description), the table of stages as one markdown card when
    the build ends (every stage done, or one failed), and a plain line per change on the terminal.
    A few posts per build, so they are sent inline."""

    def __init__(self, root: str, stages: tuple[str, ...] | list[str]):
        self.root, self.key = root, artifact_key("build-dataset-stages", root)
        self.progress_key = artifact_key("build-dataset-progress", root)
        self.rows = {name: {"state": "pending", "seconds": None, "items": None} for name in stages}
        self._progress_id = None
        self._post()

    def run(self, name: str, step: Callable[[], Any]) -> Any:
        """Run one stage, marking it running, then done (with its summary's items) or failed."""
        row = self.rows[name]
        row["state"], started = "running", time.perf_counter()
        self._post(name)
        try:
            result = step()
        except BaseException:
            row["state"], row["seconds"] = "failed", round(time.perf_counter() - started, 1)
            self._post(name)
            raise
        row["state"], row["seconds"] = "done", round(time.perf_counter() - started, 1)
        row["items"] = result.get("items") if isinstance(result, dict) else None
        self._post(name)
        return result

    def markdown(self) -> str:
        lines = [f"# build-dataset: {self.root}", "", "| | stage | state | items | seconds |", "|---|---|---|---|---|"]
        for name, r in self.rows.items():
            lines.append(f"| {MARKS[r['state']]} | {name} | {r['state']} | {'' if r['items'] is None else r['items']} | "
                         f"{'' if r['seconds'] is None else r['seconds']} |")
        return "\n".join(lines) + "\n"

    def line(self) -> str:
        return "  ".join(f"{MARKS[r['state']]} {name}" + (f" {r['seconds']} s" if r["seconds"] is not None else "")
                         for name, r in self.rows.items())

    def _post(self, changed: str | None = None) -> None:
        done = sum(r["state"] == "done" for r in self.rows.values())
        if changed is not None:
            state = self.rows[changed]
            took = f" in {state['seconds']} s" if state["seconds"] is not None else ""
            console.print(f"build-dataset: {changed} {state['state']}{took} ({done}/{len(self.rows)} stages done)",
                          highlight=False, markup=False, soft_wrap=True)
        percent = 100.0 * done / len(self.rows) if self.rows else 100.0
        description = f"build-dataset of {self.root}: {done}/{len(self.rows)} stages done. {self.line()}"
        try:
            if self._progress_id is None:
                self._progress_id = create_progress_artifact(progress=percent, key=self.progress_key, description=description)
            else:
                update_progress_artifact(self._progress_id, progress=percent, description=description)
            if done == len(self.rows) or any(r["state"] == "failed" for r in self.rows.values()):
                create_markdown_artifact(key=self.key, markdown=self.markdown(), description=f"build-dataset of {self.root}: stage states")
        except Exception as exc:  # the dashboard going wrong must not fail the build
            get_run_logger().warning("build-dataset: could not update the stage list: %r", exc)
