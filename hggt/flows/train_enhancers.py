"""Flow `train-enhancers`: the enhancement models (paper Sec. 3.2: four), one task run each; declared
model files are recorded instead."""

from __future__ import annotations

import datetime as dt
import time

import torch
from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from hggt.flows.publish import publish_summary
from hggt.flows.runners import StartingTaskRunner
from hggt.flows.stage import Stage, run_name
from hggt.core.enhancement import pretrained_folder
from hggt.core.sizes import DeclaredEnhancer
from hggt.tasks.caching import fingerprint
from hggt.tasks.declared_enhancers import record_declared
from hggt.core.enhancer_runs import compatibility_key
from hggt.tasks.enhancers import CODE, STAGE, adopt_enhancer, merge_enhancers, plan_training, train_enhancer
from hggt.core.stage_runs import record_stage_run
from hggt.tasks.stopping import cancelled_messages, stop_requests, stopped_run
from hggt.tasks.training_io import verified_result


def _devices(requested: str, count: int) -> list[str]:
    """Round-robin over the visible GPUs when the device is 'auto'."""
    gpus = torch.cuda.device_count()
    if requested != "auto" or gpus == 0:
        return [requested] * count
    return [f"cuda:{i % gpus}" for i in range(count)]


def _gpu_threads() -> ThreadPoolTaskRunner:
    """One thread per visible GPU, counted when a run starts (not at import)."""
    return ThreadPoolTaskRunner(max_workers=max(1, torch.cuda.device_count()))


@flow(name="train-enhancers", flow_run_name=run_name, task_runner=StartingTaskRunner(_gpu_threads), log_prints=True)
def train_enhancers_flow(
    out: str,
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    hr_folder: str | None = None,
    versions: list[str] | None = None,
    resume: bool = True,
) -> dict:
    """Train the config's enhancers (paper: 01..04, RCAN and ELAN on Table 1 settings 1 and 2) on the
    dataset's HR images or on `hr_folder`, and record its declared ones; writes
    `enhancers/<version>/model.<ext>` and `enhancers.parquet`."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    root, cfg = Stage.open(out, preset, overrides, config_file)
    specs = [s for s in cfg.enhancers.versions if not versions or s.version in versions]
    # Declared enhancers (model files loaded through Spandrel) are recorded, never trained.
    declared, specs = [s for s in specs if isinstance(s, DeclaredEnhancer)], [s for s in specs if not isinstance(s, DeclaredEnhancer)]
    declared_summary = {"declared": {}}
    if declared:
        declared_summary = record_declared(declared, root, cfg, started_at, alone=not specs)
        if not specs:
            return publish_summary(STAGE, root, {**declared_summary, "trained": 0}, started)
    if cfg.enhancers.pretrained:
        return _adopt(specs, pretrained_folder(cfg.enhancers.pretrained), root, cfg, started, started_at, declared_summary["declared"])
    uris, hr_fp = plan_training(root, hr_folder, cfg)
    devices = _devices(cfg.enhancers.train.device, len(specs))
    futures = []
    with stop_requests():  # SIGTERM, Ctrl-C or cancelling this flow run: stop after an iteration, checkpointed
        for spec, device in zip(specs, devices):
            key = fingerprint([compatibility_key(spec, cfg, hr_fp, CODE), cfg.enhancers.train.iterations])
            params = dict(spec=spec, hr_uris=uris, hr_fingerprint=hr_fp, root=root, cfg=cfg, cache_key=key, device=device, resume=resume)
            futures.append((train_enhancer.submit(**params), params))
        stopped = cancelled_messages([f for f, _ in futures])
    if stopped:  # the enhancers that finished keep their model files and records; the rest resume
        return stopped_run(root, STAGE, cfg, CODE, started_at, stopped, computed=len(futures) - len(stopped))
    rows, cached = [], 0
    for future, params in futures:
        row, reused = verified_result(train_enhancer, params, future, root, f"enhancer {params['spec'].version}")
        cached += reused
        rows.append(row)
    summary = merge_enhancers(root, rows)
    counts = {"items": len(rows), "rejected": 0, "shards": len(rows), "shards_cached": cached, "computed": len(rows) - cached}
    summary.update(counts, trained=len(rows), declared=declared_summary["declared"])  # declared: recorded, not trained
    summary["run_id"] = record_stage_run(root, STAGE, cfg, CODE, started_at, counts)
    summary["perceptual"] = all(r["perceptual"] for r in rows)
    return publish_summary(STAGE, root, summary, started)


def _adopt(specs: list, folder: str, root: str, cfg, started: float, started_at: dt.datetime, declared: dict) -> dict:
    """enhancers.pretrained: ready enhancer files instead of training (the demo's shipped ones)."""
    adopted = [adopt_enhancer(spec, folder, root, cfg) for spec in specs]
    rows = [row for row, _ in adopted]
    held = sum(h for _, h in adopted)
    get_run_logger().info("enhancers %s: ready files from %s, not trained here (enhancers.pretrained)",
                          ", ".join(r["version"] for r in rows), folder)
    summary = merge_enhancers(root, rows)
    counts = {"items": len(rows), "rejected": 0, "shards": len(rows), "shards_cached": held, "computed": len(rows) - held}
    summary.update(counts, pretrained=folder, iterations={r["version"]: r["iterations"] for r in rows}, trained=len(rows),
                   declared=declared)
    summary["run_id"] = record_stage_run(root, STAGE, cfg, CODE, started_at, counts)
    summary["perceptual"] = all(r["perceptual"] for r in rows)
    return publish_summary(STAGE, root, summary, started)
