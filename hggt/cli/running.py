"""What every `hggt` command shares: the typer app, the console, running a flow (checks first, the
shared local server, one line per failure) and printing a stage summary."""

from __future__ import annotations

import difflib
import logging
import os

import typer
from rich.console import Console
from rich.table import Table

from hggt.cli.options import DatasetConfig, Execution

# Before Prefect is imported: no usage reports from the CLI's own (ephemeral) server or client,
# which offline log "Failed to send telemetry" on every command. An operator's setting wins.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

app = typer.Typer(
    help=(
        "Build human-guided ground-truth datasets for real-world super-resolution (CVPR 2023 HGGT). "
        "Every command runs a Prefect flow on a local server that consecutive hggt commands share (the first one "
        "starts it and prints its dashboard's address; `hggt server status`); PREFECT_API_URL, when set, names another."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

def report_lost(line: str) -> None:
    """The one line a command prints when its Prefect server stops answering (hggt.cli.server_watch)."""
    console.print(f"[bold red]error:[/] {line}", soft_wrap=True)


def run_flow(flow: str, execution: Execution | None = None, dataset: DatasetConfig | None = None, **params):
    """Run the flow ``module:name`` (with the chosen task runner, and the dataset's config options as
    its flat parameters); any failure becomes a message and exit code 1. Mistakes are caught before
    Prefect or the flow's module is imported, and the command joins the shared local server (see
    hggt.cli.local_server) before Prefect reads its settings; if a server on this machine stops
    answering, the command says so and exits (hggt.cli.server_watch)."""
    import importlib

    from hggt.cli.local_server import connect, operator_api_url
    from hggt.cli.server_watch import watching

    params = {**params, **(dataset.params() if dataset else {})}
    _preflight(params, flow)
    url = connect(lambda line: console.print(f"[dim]{line}[/]", soft_wrap=True)) or operator_api_url()
    if url is None:
        from hggt.cli.local_server import temporary_servers_die_with_this_process

        temporary_servers_die_with_this_process()
    from hggt.flows.startup import startup

    startup()
    module, name = flow.split(":")
    flow_obj = getattr(importlib.import_module(module), name)
    from hggt.flows.runners import execution as chosen

    debug = bool(os.environ.get("HGGT_DEBUG"))
    if not debug:
        _quiet_failures_on_console()
    from prefect import tags

    from hggt.tasks.runs_cleanup import process_tags

    try:
        # The tags let a later cleanup see that this process died without reporting.
        with tags(*process_tags()), watching(url, report_lost):
            execution = execution or Execution()
            with chosen(execution.task_runner, execution.dask_address, execution.workers):
                return flow_obj(**params)
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into a message and exit code 1
        from prefect.exceptions import CancelledRun

        from hggt.core.manifests import ManifestError

        if isinstance(exc, CancelledRun):  # stopped on request (training: SIGTERM, Ctrl-C, cancelled)
            console.print(f"[bold yellow]stopped:[/] {exc or 'the flow run was cancelled'}", soft_wrap=True)
            raise typer.Exit(1) from None

        console.print(f"[bold red]error:[/] {exc or type(exc).__name__}", soft_wrap=True)
        if debug:
            raise
        if not isinstance(exc, (ManifestError, FileNotFoundError, ValueError)):
            console.print("[dim](run with HGGT_DEBUG=1 for the traceback)[/]")
        raise typer.Exit(1) from None


class _FailureLogFilter(logging.Filter):
    """Prefect logs a failing flow run's exception, with its traceback, once per task and flow level
    (9 tracebacks for one missing file); the CLI prints it once itself. Only the console loses
    them: the dashboard's API handler still receives every record. Retry notices stay. The same
    goes for the progress line a run logs each minute for `--watch` and the dashboard."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            return True
        if getattr(record, "hggt_progress", False):  # the run log's progress line: the terminal has the bar
            return False
        message = record.getMessage()
        if "Retry " in message:
            return True
        return record.levelno < logging.ERROR and not message.startswith("Finished in state Failed")


def _quiet_failures_on_console() -> None:
    # Prefect's later setup_logging calls are incremental: they keep these handler objects.
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(isinstance(f, _FailureLogFilter) for f in handler.filters):
            handler.addFilter(_FailureLogFilter())


def _preflight(params: dict, flow: str = "") -> None:
    """Mistakes found before Prefect starts: one line, exit 1, and no Failed flow run for a typo or
    for a stage whose inputs no earlier stage has made yet (hggt.core.stages says which one does)."""
    from hggt.flows.options import apply_options, options_in
    from hggt.core import storage
    from hggt.core.build_record import resolve_for_dataset
    from hggt.core.presets import resolve_config

    try:
        out = params.get("out")
        if "preset" in params:
            overrides = apply_options(params.get("overrides"), **options_in(params))
            if out and storage.exists(out):
                resolve_for_dataset(storage.normalize_root(out), params["preset"], overrides, params.get("config_file"))
            else:
                resolve_config(params["preset"] or "paper", overrides, params.get("config_file"))
        until = params.get("until")
        if until is not None:
            from hggt.core.stages import BUILD_STAGES as STAGES

            if until not in STAGES:
                close = difflib.get_close_matches(until, STAGES, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"choose one of {', '.join(STAGES)}"
                raise ValueError(f"unknown stage {until!r}; {hint}")
        # the others read an existing one; `annotate ingest` creates one from the published layout
        makes_dataset = any(params.get(k) for k in ("input", "source", "hr_folder", "labels"))
        if out and not makes_dataset and not storage.exists(out):
            raise ValueError(f"no dataset at {out}: build one first (`hggt build --input PHOTOS --out {out}`)")
        if out and not makes_dataset:
            from hggt.core.stages import STAGES, missing_inputs

            stage = next((s for s in STAGES if s.flow == flow), None)
            root = storage.normalize_root(out)
            why = stage and missing_inputs(stage.name, lambda rel: storage.exists(storage.join(root, rel)))
            if why:
                raise ValueError(why)
        for key in ("input", "source", "labels"):  # what the command's --input names, in the flow's words
            source = params.get(key)
            if source and not any(c in source for c in "*?[") and not storage.exists(source):
                raise ValueError(f"input {source} does not exist")
    except (ValueError, FileNotFoundError) as exc:  # pydantic's ValidationError is a ValueError too
        from rich.markup import escape

        if getattr(exc, "problems", None):  # a config that does not validate (presets.ConfigError): a line per problem
            for line in exc.problems:
                console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
            raise typer.Exit(1) from None
        lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "errors.pydantic.dev" not in line]
        console.print(f"[bold red]error:[/] {': '.join(lines[:3])}", soft_wrap=True)
        raise typer.Exit(1) from None


def print_summary(stage: str, summary: dict) -> None:
    table = Table(title=f"hggt {stage}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key not in ("reasons", "stages"):
            table.add_row(key, str(value))
    console.print(table)
    reasons = summary.get("reasons") or []
    for item, reason in reasons[:20]:
        console.print(f"  [yellow]rejected[/] {item}: {reason}")
    if len(reasons) > 20:
        console.print(f"  ... and {len(reasons) - 20} more (see manifests/rejected.parquet)")


