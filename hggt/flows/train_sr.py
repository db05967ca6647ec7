"""Flow `train-sr`: a Real-ISR model (a generator of the registry, hggt.core.networks) trained on
the labelled sets with the original (ori), positive (pos) or positive and negative (posneg) GTs,
or L1-only (psnr)."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow
from hggt.flows.publish import publish_summary
from hggt.flows.runners import plain_runner
from hggt.flows.stage import Stage, run_name
from hggt.core.networks import GENERATOR, names, network
from hggt.core.realisr import MODES
from hggt.tasks.caching import fingerprint
from hggt.core.stage_runs import record_stage_run
from hggt.tasks.stopping import cancelled_messages, stop_requests, stopped_run
from hggt.core.sr_runs import compatibility_key, resolve_init, run_id
from hggt.tasks.train_sr import CODE, STAGE, plan_sr, record_run, train_sr
from hggt.tasks.training_io import verified_result

ARCHS = names(GENERATOR)


@flow(name="train-sr", flow_run_name=run_name, task_runner=plain_runner(1), log_prints=True)
def train_sr_flow(
    out: str,
    arch: str = "rrdb",
    mode: str = "posneg",
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    init: str | None = None,
    resume: bool = True,
) -> dict:
    """Train one Real-ISR run on the dataset at `out`; registers it in runs.parquet."""
    if arch not in ARCHS or mode not in MODES:
        raise ValueError(f"--arch must be one of {ARCHS} and --mode one of {MODES}")
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    # `init` stays a flow parameter, not a config field: in the config it would change the config
    # hash, and so every run's cache key. (train_sr.psnr_init is config: the authors' PSNR configs
    # name their start file, and a run's key holds only the sha256 of the file it starts from.)
    root, cfg = Stage.open(out, preset, overrides, config_file)
    if cfg.train_sr.scale not in network(arch).scales:
        raise ValueError(f"train_sr.scale {cfg.train_sr.scale}: {arch} is a x{' / x'.join(map(str, network(arch).scales))} generator")
    sets, images, data_fp, split_fp = plan_sr(root, mode)
    init_spec = resolve_init(root, arch, mode, init, cfg.train_sr)
    key = compatibility_key(arch, mode, cfg, data_fp, init_spec[1], CODE)
    tcfg = cfg.train_sr.train_for(arch, mode)  # its iterations are not in the key (a run can be extended)
    params = dict(arch=arch, mode=mode, sets=sets, images=images, data_fp=data_fp, root=root, cfg=cfg,
                  cache_key=fingerprint([key, tcfg.iterations, root]), device=tcfg.device,
                  resume=resume, init=init_spec)
    with stop_requests():  # SIGTERM, Ctrl-C or cancelling this flow run: stop after an iteration, checkpointed
        future = train_sr.submit(**params)
        stopped = cancelled_messages([future])
    if stopped:
        return stopped_run(root, STAGE, cfg, CODE, started_at, stopped)
    row, cached = verified_result(train_sr, params, future, root, f"run {run_id(arch, mode, key)}")
    row = {**row, "split_fingerprint": split_fp}  # which sets were held out when it trained; evaluate checks it
    record_run(root, row)
    counts = {"items": 1, "rejected": 0, "shards": 1, "shards_cached": int(cached), "computed": int(not cached)}
    summary = {k: row[k] for k in ("run_id", "arch", "mode", "iterations", "sets", "split_fingerprint", "init_run", "perceptual",
                                    "final_l1", "final_gan", "final_negative")}
    summary.update(counts)
    record_stage_run(root, STAGE, cfg, CODE, started_at, counts)
    return publish_summary(STAGE, root, summary, started)
