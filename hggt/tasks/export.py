"""Prefect task of the export stage: a trained generator as safetensors or ONNX."""

from __future__ import annotations

from prefect import get_run_logger, task

from hggt.core import catalog, manifests, storage
from hggt.core.archs import generator_from_payload, payload_options
from hggt.core.export import client_verdicts, describe, metadata, spandrel_name, to_onnx, to_safetensors, variant
from hggt.tasks.evaluate import run_row
from hggt.tasks.training_io import load_trained


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
    arch, options = payload["arch"], payload_options(payload)
    model = generator_from_payload(payload)
    blob = (to_safetensors(model, metadata(arch, options, payload.get("scale", 1), name), half) if fmt == "safetensors"
            else to_onnx(model, half))
    # The upsampler is in the file name: two files of one run with different variants never collide,
    # and a user sees which one a tool is given.
    up = variant(arch, options)
    stem = "-".join(part for part in (name, up.replace("+", "-"), "fp16" if half else "") if part)
    uri = storage.join(root, catalog.model_export(stem, fmt))
    written = storage.atomic_write(uri, blob)
    logger = get_run_logger()
    logger.info("exported %s: %s", uri, describe(arch, options) if fmt == "safetensors" else f"{arch} {up}".strip())
    # Which clients load the written bytes correctly, measured (a small input through each), so that
    # no file goes out with a client that misreads it unsaid.
    clients = client_verdicts(model, blob, fmt, half)
    for verdict in clients:
        logger.info("%s: %s", uri, verdict["line"])
    return {"file": uri, "bytes": written.size, "sha256": written.sha256, "arch": arch, "format": fmt, "half": half,
            "upsampler": up or None, "spandrel": spandrel_name(arch, options) if fmt == "safetensors" else None,
            "clients": clients}
