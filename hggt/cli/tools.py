"""`hggt` tool commands: pretrained weights, the sample photos, Prefect runs, the shared local server, the config."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from hggt.cli.local_server import PREFERRED_PORT
from hggt.cli.options import Overrides, Preset, ConfigFile

from hggt.cli.running import app, console


weights_app = typer.Typer(help="Pretrained weights (VGG19, AlexNet for LPIPS, VGG16 for DISTS): what is present, and fetching.", no_args_is_help=True)


@weights_app.command("status")
def weights_status():
    """List the pretrained weights hggt can use, where it looks for them and which are present, and
    what to do about each missing one."""
    from rich.markup import escape

    from hggt.core.weights import hub_checkpoint_dir, next_steps, status

    # Four narrow columns (what wraps is 'used for'), the folder once below: whole at 80 columns.
    grid = Table(title="pretrained weights")
    grid.add_column("name", no_wrap=True)
    grid.add_column("status", no_wrap=True)
    grid.add_column("size", no_wrap=True)
    grid.add_column("used for", ratio=1)
    rows = status()
    for r in rows:
        grid.add_row(r["name"], "[green]present[/]" if r["present"] else "[red]missing[/]", r["size"], escape(r["used_for"]))
    console.print(grid)
    console.print(f"folder: {escape(str(hub_checkpoint_dir()))} (TORCH_HOME moves it)")
    missing = [r for r in rows if not r["present"]]
    if not missing:
        console.print("[green]All present.[/]")
        return
    console.print(f"[bold]To do[/] ({len(missing)} missing; `hggt weights fetch` fetches them all):")
    for r in missing:
        console.print(f"  {r['name']} ({escape(r['file'])}):")
        for line in next_steps(r["name"]):
            console.print(f"    {escape(line)}")


@weights_app.command("fetch")
def weights_fetch(names: Annotated[Optional[list[str]], typer.Argument(help="Which (default: all missing).")] = None):
    """Download weights into the torch hub cache (needs internet; nothing else in hggt downloads)."""
    from hggt.core.weights import KNOWN, fetch, status

    wanted = names or [r["name"] for r in status() if not r["present"]]
    unknown = set(wanted) - set(KNOWN)
    if unknown:
        console.print(f"[bold red]error:[/] unknown weights {sorted(unknown)}; choose from {sorted(KNOWN)}")
        raise typer.Exit(2)
    for name in wanted:
        try:
            console.print(f"{name}: {fetch(name)}")
        except OSError as exc:
            console.print(f"[bold red]error:[/] could not download {name}: {exc}")
            raise typer.Exit(1) from None


@app.command("sample-photos")
def sample_photos(dest: Annotated[Path, typer.Argument(help="Folder to copy the bundled photos into.")]):
    """Copy the colour photos that scikit-image ships (no download) into DEST, for the demo."""
    from hggt.core.sample_photos import sample_photo_paths

    dest.mkdir(parents=True, exist_ok=True)
    for path in sample_photo_paths():
        target = dest / path.name
        if not target.exists():
            shutil.copyfile(path, target)
    console.print(f"{len(sample_photo_paths())} photos in {dest}")


runs_app = typer.Typer(help="Prefect runs of your datasets.", no_args_is_help=True)


@runs_app.command("cleanup")
def runs_cleanup(
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Only the runs of this dataset (default: every dataset).")] = None,
):
    """Mark Crashed the subflows and task runs left Running or Pending under a run whose process was killed."""
    from hggt.cli.local_server import connect, operator_api_url
    from hggt.cli.running import report_lost
    from hggt.cli.server_watch import lost_message, refused, watching

    url = connect(lambda line: console.print(f"[dim]{line}[/]", soft_wrap=True)) or operator_api_url()
    from hggt.tasks.runs_cleanup import mark_orphaned_runs

    try:
        with watching(url, report_lost):
            marked = mark_orphaned_runs(out)
    except Exception as exc:  # noqa: BLE001 - a server that does not answer is one line, not a traceback
        report_lost(lost_message(url) if url and refused(url) else f"could not mark runs on {url or 'the Prefect server'}: {exc}")
        raise typer.Exit(1) from None
    console.print(f"marked Crashed: {len(marked['flow_runs'])} flow runs, {len(marked['task_runs'])} task runs")


server_app = typer.Typer(help="The local Prefect server that hggt commands share (started by the first one).", no_args_is_help=True)


@server_app.command("status")
def server_status():
    """Where the shared local server runs, or which server the commands use instead."""
    from hggt.cli import local_server

    if local_server.operator_api_url():
        console.print(f"commands use the configured server {local_server.operator_api_url()} (PREFECT_API_URL)")
        return
    state = local_server.running()
    if state is None:
        console.print("no local server runs; the next stage command starts one")
        raise typer.Exit(1)
    kept = (local_server.prefect_home() / local_server.KEEP).exists()
    console.print(f"local server pid {state['pid']}: dashboard {state['dashboard']}, API {state['api_url']}, "
                  + ("kept until `hggt server stop`" if kept else f"stops after {local_server.idle_seconds():.0f} s without a command"),
                  soft_wrap=True)


ServerPort = Annotated[int, typer.Option("--port", help="Port to start it on when none runs (taken: a free one).")]
Keep = Annotated[bool, typer.Option("--keep", help="No idle stop until `hggt server stop` (for a worker and deployments).")]


def _shared_server(port: int, keep: bool, announce) -> str:
    from hggt.cli import local_server

    if os.environ.get("HGGT_LOCAL_SERVER") == "0" or local_server.operator_api_url():
        console.print("[bold red]error:[/] a configured server (PREFECT_API_URL) or HGGT_LOCAL_SERVER=0 is in effect; nothing to start",
                      soft_wrap=True)
        raise typer.Exit(1)
    url = local_server.connect(announce, port=port, keep=keep)
    if url is None:
        raise typer.Exit(1)
    return url


@server_app.command("start")
def server_start(port: ServerPort = PREFERRED_PORT, keep: Keep = False,
                 foreground: Annotated[bool, typer.Option("--foreground", help="Run it in this terminal until Ctrl-C (make server).")] = False):
    """Start the shared local server now, or say where it runs (stage commands start it themselves)."""
    if foreground:
        from hggt.cli import local_server

        if local_server.operator_api_url():
            console.print(f"[bold red]error:[/] PREFECT_API_URL names a server already ({local_server.operator_api_url()}); "
                          "unset it to run hggt's own", soft_wrap=True)
            raise typer.Exit(1)
        local_server.serve_in_foreground(port, lambda line: console.print(line, soft_wrap=True))
        return
    url = _shared_server(port, keep, lambda line: console.print(line, soft_wrap=True))
    console.print(f"local server answers at {url} (dashboard {url.removesuffix('/api')})"
                  + ("; kept until `hggt server stop`" if keep else ""), soft_wrap=True)


@server_app.command("url")
def server_url(port: ServerPort = PREFERRED_PORT, keep: Keep = False):
    """Print the shared server's API URL, starting it if none runs: `export PREFECT_API_URL=$(hggt server url)`
    points `prefect` commands (deployments, workers) at the server hggt commands use."""
    from hggt.cli import local_server

    configured = local_server.operator_api_url()  # the operator's own server: the one to point at
    print(configured or _shared_server(port, keep, lambda line: print(line, file=sys.stderr)))


@server_app.command("stop")
def server_stop():
    """Stop the shared local server (runs and their history stay in the Prefect database)."""
    from hggt.cli import local_server

    state = local_server.stop()
    console.print(f"stopped the local server (pid {state['pid']}, {state['dashboard']})" if state else "no local server was running")


@app.command("show-config")
def show_config(preset: Preset = None, overrides: Overrides = None, config: ConfigFile = None,
                out: Optional[str] = typer.Option(None, "--out", "-o", help="A dataset: its recorded build's config.")):
    """Print the resolved config (preset + overrides; with --out, on top of the dataset's recorded build) and its hash,
    and check each declared enhancer's model file as train-enhancers will (Spandrel loads it; its scale matches)."""
    from rich.markup import escape

    from hggt.core.presets import resolve_config

    try:
        if out:
            from hggt.core import storage
            from hggt.core.build_record import resolve_for_dataset

            cfg = resolve_for_dataset(storage.normalize_root(out), preset, overrides, config)[0]
        else:
            cfg = resolve_config(preset or "paper", overrides, config)
    except ValueError as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:  # a ConfigError: one line per problem
            console.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
        raise typer.Exit(2) from None
    json.dump(cfg.model_dump(mode="json"), sys.stdout, indent=2)
    print(f"\nconfig hash: {cfg.hash}")
    if not _declared_enhancers_load(cfg):
        raise typer.Exit(2)


def _declared_enhancers_load(cfg) -> bool:
    """The checks train-enhancers makes of each declared model file, now: one line per enhancer."""
    if not cfg.enhancers.declared:
        return True
    from rich.markup import escape

    from hggt.core.declared_enhancers import DeclaredModelError, check_declared_file

    ok = True
    for spec in cfg.enhancers.declared:
        who = f"enhancer {spec.version} (declared)"
        try:
            facts = check_declared_file(spec.model, spec.scale)
        except DeclaredModelError as exc:
            console.print(f"[bold red]error:[/] {escape(who)}: {escape(str(exc))}", soft_wrap=True)
            ok = False
            continue
        said = ("not checked: a remote file is read when train-enhancers runs" if facts is None else
                f"loads as a {facts['scale']}x {facts['arch']} ({facts['parameters']:,} parameters)")
        console.print(f"{escape(who)}: {escape(spec.model)} {escape(said)}", soft_wrap=True)
    return ok
