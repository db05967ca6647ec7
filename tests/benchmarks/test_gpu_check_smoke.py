"""`make gpu-check` is run once on a lent GPU: its code must already work, so it runs here at tiny
sizes on the CPU (the figures mean nothing here; each check must report one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_check_runs_every_check_on_the_cpu():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", "--tiny", "--steps", "1", "--no-compile"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    train = {(r["arch"], r["stage"], r["variant"]) for r in rows if r["check"] == "train"}
    assert {(a, s, v) for a in ("rrdb", "swinir") for s in ("l1", "gan") for v in ("fp32", "bf16+cl")} <= train
    assert {("rcan", "gan", "bf16+cl"), ("elan", "gan", "bf16+cl")} <= train
    assert all(r["iterations_per_s"] > 0 for r in rows if r["check"] == "train")
    assert {r["arch"] for r in rows if r["check"] == "enhance" and r["tiles_per_s"] > 0} == {"rcan", "elan"}
    synthesis = next(r for r in rows if r["check"] == "synthesis")
    assert synthesis["degrade_samples_per_s"] > 0 and synthesis["maps_samples_per_s"] > 0
    assert "no verdicts" in proc.stdout
