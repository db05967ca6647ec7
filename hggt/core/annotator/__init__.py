"""A learned annotator: a small full-reference quality model that predicts Positive / Similar /
Negative for (original, enhanced version) pairs from the votes a campaign has collected. numpy and
OpenCV only (no torch), so the annotation server and the CPU stages can load it."""

from pathlib import Path

# Trained once on the demo photos' proxy votes by `make demo-annotator` and shipped with hggt
# (`--annotator demo`, `annotation.proxy_model=demo`).
DEMO_ANNOTATOR = Path(__file__).resolve().parent / "demo_annotator.json"
