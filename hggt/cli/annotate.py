"""`hggt annotate ...`: export sets to annotators, serve the browser app, ingest votes."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hggt.cli.options import DatasetConfig, Out, shared_options

from hggt.cli.running import console, print_summary, run_flow


annotate_app = typer.Typer(help="Human annotation: export sets to annotators, serve the browser app, ingest votes.", no_args_is_help=True)


def _annotation_store(out: str):
    from hggt.core import storage as st
    from hggt.core.annotation.store import store_for

    store = store_for(st.normalize_root(out))
    if not store.exists():
        console.print("[bold red]error:[/] nothing exported yet: run `hggt annotate export` first")
        raise typer.Exit(1)
    return store


def _print_export(summary: dict, host: str, port: int) -> None:
    from hggt.app.serve import admin_link, annotator_links

    for name, link in annotator_links(summary["tokens"], host, port).items():
        console.print(f"  {name}: {link}")
    if summary.get("admin_token"):
        console.print(f"Coordinator's page (read-only; keep this link to yourself): {admin_link(summary['admin_token'], host, port)}")


def _served_at(out: str, host: str | None, port: int | None) -> tuple[str, int]:
    from hggt.app.serve import app_settings

    saved = app_settings(_annotation_store(out))
    return host or saved.get("host", "127.0.0.1"), port or saved.get("port", 8765)


ServeHost = Annotated[Optional[str], typer.Option("--host", help="Address the app is served on (default: annotation.host, 127.0.0.1).")]
ServePort = Annotated[Optional[int], typer.Option("--port", help="Port the app is served on (default: annotation.port, 8765).")]


@annotate_app.command("export")
@shared_options
def annotate_export(
    out: Out,
    annotators: Annotated[Optional[str], typer.Option("--annotators", help="Comma-separated names (default A,B,C).")] = None,
    per_set: Annotated[Optional[int], typer.Option("--per-set", help="Different annotators per set (default 3).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Sets per batch (default 1000).")] = None,
    dataset: DatasetConfig = None,
    host: ServeHost = None, port: ServePort = None,
    order: Annotated[str, typer.Option("--order", help="'rank' (sets.parquet's order) or 'uncertainty' (the learned annotator's least sure first).")] = "rank",
    skip_confident: Annotated[Optional[float], typer.Option("--skip-confident", help="Leave out sets the learned annotator calls all-Similar with probability above P (recorded in triage.parquet).")] = None,
    annotator: Annotated[str, typer.Option("--annotator", help="Learned annotator for --order/--skip-confident: 'latest', an id, 'demo' or a model.json.")] = "latest",
):
    """Assign every set to annotators (three different ones each, balanced), fix each set's random
    display order, create the annotation database and print one link with a token per annotator and
    the coordinator's link. On a running campaign, sets new in sets.parquet are added as new batches."""

    names = [n.strip() for n in annotators.split(",") if n.strip()] if annotators else None
    # 0 or "" leave the config's value, as they always have
    summary = run_flow("hggt.flows.annotate:annotate_export_flow", None, dataset, out=out, annotators=names or None, per_set=per_set or None,
                   batch_size=batch_size or None, host=host or None, port=port or None, order=order, skip_confident=skip_confident,
                   annotator=annotator)
    if summary.get("skipped_sets"):
        console.print(f"{summary['skipped_sets']} sets left out: learned annotator {summary['learned_annotator']} calls them all-Similar "
                      f"with probability above {skip_confident} (manifests/triage.parquet)")
    if (host or port) and not summary["created"]:  # a new address for a running campaign
        from hggt.app.serve import app_settings, write_app_settings

        store = _annotation_store(out)
        saved = app_settings(store)
        write_app_settings(store, host or saved.get("host", "127.0.0.1"), port or saved.get("port", 8765), saved.get("allowed_hosts", []))
    host, port = _served_at(out, host, port)
    if summary.get("triage_note"):
        console.print(f"[yellow]{summary['triage_note']}[/yellow]")
    if not summary["created"]:
        added = f"; {summary['added_sets']} new sets added as new batches" if summary["added_sets"] else ""
        console.print(f"Already exported for {', '.join(summary['annotators'])}; tokens, assignments and votes are kept{added}. "
                      "`hggt annotate tokens` issues new links, `hggt annotate add` adds annotators.")
        return
    console.print(f"{summary['sets']} sets for {len(summary['annotators'])} annotators in {summary['batches']} batches; "
                  f"sets per annotator: {summary['loads']}; {summary['repeats']} repeated sets for quality control")
    console.print("Send each annotator their link (also in annotation/tokens.txt, readable by you only):")
    _print_export(summary, host, port)


@annotate_app.command("add")
@shared_options
def annotate_add(
    out: Out,
    annotators: Annotated[str, typer.Option("--annotators", help="Comma-separated names of the annotators who join.")],
    dataset: DatasetConfig = None,
):
    """Add annotators to a running campaign: they get links and take part in the sets added from
    now on (sets new in sets.parquet are added as new batches now); nobody's token, assignment or vote changes."""

    _annotation_store(out)
    names = [n.strip() for n in annotators.split(",") if n.strip()]
    summary = run_flow("hggt.flows.annotate:annotate_export_flow", None, dataset, out=out, add_annotators=names)
    console.print(f"Added {', '.join(summary['added_annotators'])}; {summary['added_sets']} new sets assigned; "
                  f"sets per annotator: {summary['loads']}")
    _print_export({**summary, "admin_token": None}, *_served_at(out, None, None))


@annotate_app.command("tokens")
def annotate_tokens(
    out: Out, host: ServeHost = None, port: ServePort = None,
    admin: Annotated[bool, typer.Option("--admin", help="Only issue a new coordinator link.")] = False,
):
    """Issue new links for every annotator (old ones stop working, votes are kept) and the coordinator."""
    from hggt.tasks.annotation import write_admin_token, write_tokens

    store = _annotation_store(out)
    tokens = {} if admin else store.reissue_tokens()
    if tokens:
        write_tokens(store, tokens)
    admin_token = store.issue_admin_token()
    write_admin_token(store, admin_token)
    _print_export({"tokens": tokens, "admin_token": admin_token}, *_served_at(out, host, port))


@annotate_app.command("serve")
def annotate_serve(
    out: Out, host: ServeHost = None, port: ServePort = None,
    allowed_host: Annotated[Optional[list[str]], typer.Option("--allowed-host", help="Another host name the app is reached by (repeatable).")] = None,
):
    """Serve the annotation app (without torch or Prefect: it starts fast and stays small).
    Annotators open their link; votes go to OUT/annotation/votes.sqlite as they submit."""
    from hggt.app.serve import app_settings, run

    store = _annotation_store(out)
    saved = app_settings(store)
    host, port = _served_at(out, host, port)
    run(store, host, port, [*saved.get("allowed_hosts", []), *(allowed_host or [])], print_fn=console.print)


@annotate_app.command("status")
def annotate_status(out: Out, as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False):
    """Where the campaign stands: per annotator sets done, time per set, agreement with the majority so
    far, quality control and last activity; per batch completion; Fleiss' kappa so far. Read-only."""
    from hggt.cli.annotate_status import print_status

    print_status(_annotation_store(out), console, as_json)


@annotate_app.command("ingest")
@shared_options
def annotate_ingest(
    out: Out,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Folder of label files, or the published HGGT dataset (images/, labels/).")] = None,
    dataset: DatasetConfig = None,
):
    """Read votes (the app's database in OUT, label files at INPUT) into votes.parquet; aggregate
    them into labels.parquet by the paper's rule and report agreement. Bad files are reported and skipped.
    With the published HGGT dataset as INPUT and no dataset at OUT, creates one from it (its Test
    tree becomes the held-out test side)."""

    summary = run_flow("hggt.flows.annotate:annotate_ingest_flow", None, dataset, out=out, labels=input)
    report = summary.pop("report")
    print_summary("annotate ingest", summary)
    if summary.get("imported"):
        how = ", ".join(f"{n} {word}" for n, word in ((summary["linked"], "hard-linked"), (summary["copied"], "copied")) if n)
        console.print(f"Imported {summary['imported']} published sets into {out} ({how}); next: `hggt split --out {out}`, "
                      f"`hggt maps --out {out}`, `hggt train-sr --out {out}`", soft_wrap=True)
    for source, r in report.items():
        kappa = "n/a" if r["fleiss_kappa"] is None else f"{r['fleiss_kappa']:.3f}"
        ds = r["dawid_skene"]["agreement_with_paper_rule"]
        console.print(f"{source} votes: Fleiss' kappa {kappa}; Dawid-Skene agrees with the paper's rule on "
                      f"{'n/a' if ds is None else f'{100 * ds:.1f}%'} of versions; labels {r['label_proportions']}")
