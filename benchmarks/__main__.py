"""Run every benchmark and print its figures: python -m benchmarks [name ...]."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks import annotation, declared, degradations, enhance, latency, maps, patches, timing, training

BENCHMARKS = {
    "patches": patches.run, "degradations": degradations.run, "enhance": enhance.run, "declared": declared.run, "maps": maps.run,
    "training": training.run, "annotation": annotation.run, "latency": latency.run,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    results, failed = {}, []
    for name in names:
        result = BENCHMARKS[name]()
        results[name] = result
        if not result["target_met"]:
            failed.append(name)
    results["machine"] = timing.machine()  # after the runs: the thread counts they set
    results["method"] = (f"candidate and baseline interleaved, {timing.ROUNDS} rounds each (order rotating); "
                         "median/min/max of per-round rates; ratios and verdicts from medians")
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {out / 'latest.json'}")
    if failed:
        print(f"targets missed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
