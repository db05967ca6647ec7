"""Flows of human annotation (paper Sec. 3.3): export the sets to annotators, wait for their votes
(or let the demo's proxy annotator vote), ingest and aggregate the votes into labels."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from hggt.flows.publish import publish_summary
from hggt.flows.runners import plain_runner
from hggt.flows.stage import Stage, dataset_params, run_name
from hggt.core import catalog
from hggt.tasks.annotation import aggregate_task, export_task, ingest_task, proxy_task, store_for
from hggt.tasks.progress import artifact_key


class AnnotationDone(RunInput):
    """Resume once the annotators have finished (or to go on with the votes there are)."""

    proceed: bool = True


@flow(name="annotate-export", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def annotate_export_flow(out: str, preset: str | None = None, overrides: list[str] | None = None, config_file: str | None = None,
                         annotators: list[str] | None = None, add_annotators: list[str] | None = None, order: str = "rank",
                         skip_confident: float | None = None, annotator: str = "latest", per_set: int | None = None,
                         batch_size: int | None = None, host: str | None = None, port: int | None = None) -> dict:
    """Assign every set of `sets.parquet` to annotators, create the annotation database and the
    published-layout copy of the sets; returns one token per new annotator and the coordinator's
    token (new exports only). On a running campaign, new sets become new batches and
    `add_annotators` join; `annotators`, when given, must match the campaign's list. With the learned
    `annotator`, `order="uncertainty"` hands out its least certain sets first and `skip_confident=P`
    leaves out sets it calls all-Similar with probability above P (both recorded in triage.parquet).
    `annotators`, `per_set`, `batch_size`, `host` and `port` set the annotation section's values."""
    started = time.perf_counter()
    root, cfg = Stage.open(out, preset, overrides, config_file, annotators=annotators, per_set=per_set, batch_size=batch_size,
                           host=host, port=port)
    summary = export_task(root, cfg, annotators, add_annotators, order, skip_confident, annotator)
    public = {k: v for k, v in summary.items() if k not in ("tokens", "admin_token")}  # secrets stay out of the dashboard
    publish_summary("annotate-export", root, public, started)
    return summary


@flow(name="annotate-ingest", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def annotate_ingest_flow(
    out: str, labels: str | None = None, preset: str | None = None, overrides: list[str] | None = None, config_file: str | None = None
) -> dict:
    """Votes from the annotation app and from label files at `labels` (ours, or the published HGGT
    dataset, whose sets are imported: into a new dataset as its own, see hggt.tasks.published_import)
    into votes.parquet, then labels.parquet and agreement."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    root, cfg = Stage.open(out, preset, overrides, config_file)
    ingested = ingest_task(labels, root, cfg, started_at)
    publish_summary("annotate-ingest", root, ingested, started)
    labels = aggregate_task(root, cfg, dt.datetime.now(dt.timezone.utc))
    _publish_agreement(labels["report"], root)
    summary = publish_summary("annotate-aggregate", root, {k: v for k, v in labels.items() if k != "report"}, started)
    imported = {k: ingested[k] for k in ("published_sets", "imported", "already", "linked", "copied") if k in ingested}
    return {**summary, **imported, "votes": ingested["items"], "ingest_rejected": ingested["rejected"],
            "reasons": ingested["reasons"] + labels["reasons"], "report": labels["report"]}


def _publish_agreement(report: dict, root: str) -> None:
    for source, r in report.items():
        create_table_artifact(
            key=artifact_key(f"annotation-agreement-{source}", root),
            table=[{"metric": "Fleiss' kappa", "value": r["fleiss_kappa"]},
                   {"metric": "Dawid-Skene agrees with the paper's rule", "value": r["dawid_skene"]["agreement_with_paper_rule"]},
                   *({"metric": f"{k} share", "value": v} for k, v in r["label_proportions"].items())],
            description=f"Agreement of the {source} votes",
        )
        create_table_artifact(key=artifact_key(f"annotation-annotators-{source}", root), table=r["annotators"],
                              description=f"{source} annotators of {root}")


@flow(name="annotate", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def annotate_flow(out: str, preset: str | None = None, overrides: list[str] | None = None, config_file: str | None = None) -> dict:
    """The annotation step of build-dataset: export, then wait for people (a pause you resume in the
    dashboard) or, in proxy mode, let the proxy annotator vote; then ingest and aggregate."""
    root, cfg = Stage.open(out, preset, overrides, config_file)
    dataset = dataset_params(out, preset, overrides, config_file)
    logger = get_run_logger()
    export = annotate_export_flow(**dataset)
    store = store_for(root)
    if cfg.annotation.mode == "proxy":
        voted = proxy_task(root, cfg.annotation.proxy_model)
        logger.warning("PROXY ANNOTATION: %d sets were labelled by full-reference rules, not by people (source='proxy')", voted["sets"])
    else:
        required = store.required_votes()
        have = {}
        for v in store.votes():
            have.setdefault(v["set_id"], set()).add(v["annotator"])
        waiting = sum(len(have.get(s, ())) < n for s, n in required.items())
        if waiting:
            create_markdown_artifact(
                key=artifact_key("annotation-waiting", root), description=f"annotation of {root}: sets waiting for votes",
                markdown=(f"# Waiting for annotation\n\n{waiting} of {len(required)} sets still need votes.\n\n"
                          f"Start the app with `hggt annotate serve --out {root}` and send each annotator their link "
                          f"(tokens: `{store.path.parent / catalog.ANNOTATOR_TOKENS}`). Resume this run when they are done."),
            )
            logger.info("waiting for annotation of %d sets; resume this flow run when done", waiting)
            pause_flow_run(wait_for_input=AnnotationDone, timeout=cfg.annotation.wait_timeout, key="annotation")
    summary = annotate_ingest_flow(**dataset)
    summary["export"] = {k: v for k, v in export.items() if k != "tokens"}
    summary["proxy"] = cfg.annotation.mode == "proxy"
    return summary
