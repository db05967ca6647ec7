"""Flow `maps`: indication maps of every labelled set with a negative (paper Sec. 4)."""

from __future__ import annotations

import base64

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from hggt.flows.runners import stage_runner
from hggt.flows.sharding import sharded_stage
from hggt.flows.stage import Stage, run_name
from hggt.core import manifests, storage
from hggt.tasks.maps import maps_shard, merge_maps, plan_maps
from hggt.tasks.progress import artifact_key


@flow(name="maps", flow_run_name=run_name, task_runner=stage_runner(), log_prints=True)
def maps_flow(out: str, preset: str | None = None, overrides: list[str] | None = None, config_file: str | None = None) -> dict:
    """M_pos, M_neg and M_ind for each (positive, negative) pair of every usable set with a negative:
    `maps/<set>/<pos>_<neg>.npz` (float16), `maps/<set>/figure.jpg` and `maps.parquet`."""
    root, cfg = Stage.open(out, preset, overrides, config_file)
    # three float16 maps per pair (npz, at most uncompressed) and a figure of six panels per set
    summary = sharded_stage("maps", root, cfg, lambda: plan_maps(root, cfg), maps_shard, merge_maps,
                            item_bytes=lambda item: len(item["pairs"]) * 6 * cfg.patches.crop_size ** 2 + 18 * cfg.maps.figure_size ** 2)
    figures = [r["figure_uri"] for r in manifests.read(root, "maps").to_pylist() if r["figure_uri"]][:4]
    if figures:
        pictures = "\n\n".join(
            f"![{uri}](data:image/jpeg;base64,{base64.b64encode(storage.read_bytes(storage.resolve(root, uri))).decode()})"
            for uri in figures
        )
        create_markdown_artifact(key=artifact_key("maps-examples", root), description=f"hggt maps: example indication maps of {root}",
                                 markdown=f"# Indication maps\n\noriginal, positive, negative, M_neg, M_pos, M_ind\n\n{pictures}")
    return summary
