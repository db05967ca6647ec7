"""A learned annotator: a small full-reference quality model that predicts Positive / Similar /
Negative for (original, enhanced version) pairs from the votes a campaign has collected. numpy and
OpenCV only (no torch), so the annotation server and the CPU stages can load it."""
