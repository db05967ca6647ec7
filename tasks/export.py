"""Prefect task of the export stage: a trained generator as safetensors or ONNX."""

from __future__ import annotations

from prefect import task

from hggt_core import manifests, storage
from hggt_core.archs import generator_from_payload
from hggt_core.export import to_onnx, to_safetensors
from tasks.evaluate import run_row
from tasks.training_io import load_trained


@task(name="export-model", persist_result=False)
def export_model(root: str, run_id: str | None, enhancer: str | None, fmt: str, half: bool) -> dict:
    if enhancer:
        rows = {r["version"]: r for r in manifests.read(root, "enhancers").to_pylist()}
        if enhancer not in rows:
            raise ValueError(f"no trained enhancer {enhancer!r}; trained: {', '.join(sorted(rows)) or 'none'}")
        row, name, rerun = rows[enhancer], f"enhancer-{enhancer}", "hggt train-enhancers"
    else:
        row = run_row(root, run_id)
        name, rerun = row["run_id"], "hggt train-sr"
    payload = load_trained(storage.resolve(root, row["checkpoint_uri"]), row["sha256"], rerun)
    model = generator_from_payload(payload)
    meta = {"hggt_arch": payload["arch"], "options": payload["options"], "scale": payload.get("scale", 1), "source": name}
    blob = to_safetensors(model, meta, half) if fmt == "safetensors" else to_onnx(model, half)
    uri = storage.join(root, "exports", f"{name}{'-fp16' if half else ''}.{fmt}")
    written = storage.atomic_write(uri, blob)
    return {"file": uri, "bytes": written.size, "sha256": written.sha256, "arch": payload["arch"], "format": fmt, "half": half}
