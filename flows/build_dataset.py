"""Flow `build-dataset`: the HGGT pipeline end to end, stage by stage (paper Sec. 3-5).

1. ingest            HR photos -> images.parquet (rejected files recorded with reasons)
2. extract-patches   512x512 candidates on a jittered grid, texture statistics -> patches.parquet
3. degrade           LQ versions of the textured patches, Table 1 settings 1 and 2 -> degradations.parquet
4. synthesize-lr     fixed x4 LR test inputs, Table 2 -> lr_test.parquet
Later stages (enhancement, selection, annotation, indication maps, Real-ISR training,
evaluation) join here as they land.
"""

from __future__ import annotations

import time

from prefect import flow

from flows._runtime import default_task_runner
from flows.degrade import degrade_flow, synthesize_lr_flow
from flows.extract_patches import extract_patches_flow
from flows.ingest import ingest_flow
from hggt_core import storage


@flow(name="build-dataset", task_runner=default_task_runner(), log_prints=True)
def build_dataset_flow(
    input: str,
    out: str,
    preset: str = "paper",
    overrides: list[str] | None = None,
    config_file: str | None = None,
) -> dict:
    """Run every stage on the photos under `input`, writing the dataset to `out`."""
    started = time.perf_counter()
    stages = {}
    stages["ingest"] = ingest_flow(input=input, out=out, preset=preset, overrides=overrides, config_file=config_file)
    stages["patches"] = extract_patches_flow(out=out, preset=preset, overrides=overrides, config_file=config_file)
    stages["degrade"] = degrade_flow(input=out, out=out, preset=preset, overrides=overrides, config_file=config_file)
    stages["lr_test"] = synthesize_lr_flow(input=out, out=out, preset=preset, overrides=overrides, config_file=config_file)
    return {"out": storage.normalize_root(out), "seconds": round(time.perf_counter() - started, 2), "stages": stages}
