"""What a stage shows in the dashboard when it ends: its summary table and a few example images."""

from __future__ import annotations

import base64
import time

import cv2
import numpy as np
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from hggt.core import storage
from hggt.tasks.progress import artifact_key

def publish_examples(stage: str, root: str, uris: list[tuple[str, str]], note: str = "", size: int = 192) -> None:
    """A markdown artifact with a few of the stage's images (title, URI relative to the root),
    downscaled and inlined, so the dashboard shows what the stage made."""
    if not uris:
        return
    pictures = []
    for title, uri in uris:
        img = cv2.imdecode(np.frombuffer(storage.read_bytes(storage.resolve(root, uri)), np.uint8), cv2.IMREAD_COLOR)
        scale = size / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        ok, png = cv2.imencode(".png", img)
        pictures.append(f"![{title}](data:image/png;base64,{base64.b64encode(png.tobytes()).decode()}) `{title}`")
    create_markdown_artifact(key=artifact_key(f"{stage}-examples", root), markdown=f"# {stage}: examples\n\n{note}\n\n" + "\n\n".join(pictures),
                             description=f"hggt {stage}: example images of {root}")


def publish_summary(stage: str, root: str, summary: dict, started: float) -> dict:
    """Add timing, publish a table artifact to the dashboard and log the stage summary."""
    seconds = time.perf_counter() - started
    summary = {**summary, "seconds": round(seconds, 2), "out": root}
    summary["items_per_second"] = round(summary.get("items", 0) / seconds, 2) if seconds > 0 else None
    table = {k: v for k, v in summary.items() if k != "reasons"}
    create_table_artifact(
        key=artifact_key(f"{stage}-summary", root), table=[{"metric": k, "value": str(v)} for k, v in table.items()],
        description=f"hggt {stage}: summary of run {summary.get('run_id')} of {root}",
    )
    logger = get_run_logger()
    logger.info("%s summary: %s", stage, table)
    for item, reason in summary.get("reasons", [])[:20]:
        logger.warning("%s rejected %s: %s", stage, item, reason)
    return summary
