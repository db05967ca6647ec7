"""Flow `export`: the EMA generator of a Real-ISR run (or an enhancer) as safetensors or ONNX."""

from __future__ import annotations

import io

import torch
from prefect import flow, task

from hggt_core import manifests, storage
from hggt_core.archs import build_generator
from hggt_core.export import to_onnx, to_safetensors
from tasks.evaluate import run_row


@task(name="export-model", persist_result=False)
def export_task(root: str, run_id: str | None, enhancer: str | None, fmt: str, half: bool) -> dict:
    if enhancer:
        rows = {r["version"]: r for r in manifests.read(root, "enhancers").to_pylist()}
        if enhancer not in rows:
            raise ValueError(f"no trained enhancer {enhancer!r}; trained: {', '.join(sorted(rows)) or 'none'}")
        row, name = rows[enhancer], f"enhancer-{enhancer}"
    else:
        row = run_row(root, run_id)
        name = row["run_id"]
    data = storage.read_bytes(storage.resolve(root, row["checkpoint_uri"]))
    if storage.sha256_bytes(data) != row["sha256"]:
        raise ValueError(f"{row['checkpoint_uri']} changed since training (sha256 differs)")
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    model = build_generator(payload["arch"], **payload["options"])
    model.load_state_dict(payload["state_dict"])
    meta = {"hggt_arch": payload["arch"], "options": payload["options"], "scale": payload.get("scale", 1), "source": name}
    blob = to_safetensors(model, meta, half) if fmt == "safetensors" else to_onnx(model, half)
    uri = storage.join(root, "exports", f"{name}{'-fp16' if half else ''}.{fmt}")
    written = storage.atomic_write(uri, blob)
    return {"file": uri, "bytes": written.size, "sha256": written.sha256, "arch": payload["arch"], "format": fmt, "half": half}


@flow(name="export", log_prints=True)
def export_flow(out: str, run_id: str | None = None, enhancer: str | None = None, fmt: str = "safetensors", half: bool = False) -> dict:
    """Write `exports/<run or enhancer>.<format>` from the EMA weights of a run or an enhancer."""
    if fmt not in ("safetensors", "onnx"):
        raise ValueError("--format must be safetensors or onnx")
    if bool(run_id) == bool(enhancer):
        raise ValueError("name either --run or --enhancer")
    return export_task(storage.normalize_root(out), run_id, enhancer, fmt, half)
