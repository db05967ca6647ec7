"""Flow `export`: the EMA generator of a Real-ISR run (or an enhancer) as safetensors or ONNX."""

from __future__ import annotations

from prefect import flow

from hggt.flows.runners import plain_runner
from hggt.core import storage
from hggt.tasks.export import export_model
from hggt.flows.stage import run_name


@flow(name="export", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def export_flow(out: str, run_id: str | None = None, enhancer: str | None = None, fmt: str = "safetensors", half: bool = False) -> dict:
    """Write `exports/<run or enhancer>.<format>` from the EMA weights of a run or an enhancer."""
    if fmt not in ("safetensors", "onnx"):
        raise ValueError("--format must be safetensors or onnx")
    if bool(run_id) == bool(enhancer):
        raise ValueError("name either --run or --enhancer")
    return export_model(storage.normalize_root(out), run_id, enhancer, fmt, half)
