"""Timing that a noisy machine cannot flip: contenders run in interleaved rounds (the order
rotating every round, so a slow spell hits each of them alike), each round gives one rate per
contender, and comparisons use the medians of those rates. Min and max are kept to show the spread.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

ROUNDS = 5


def interleaved(
    contenders: dict[str, Callable[[], object]], units: float, rounds: int = ROUNDS, min_seconds: float = 0.4
) -> dict[str, dict]:
    """Rates (``units`` per call, per second) of each contender over ``rounds`` rounds; within a
    round a contender is called until ``min_seconds`` have passed (at least once). Every
    contender is called once before timing starts (imports, caches, allocator)."""
    for fn in contenders.values():
        fn()
    names = list(contenders)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(max(rounds, 1)):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            fn, calls, start = contenders[name], 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
            rates[name].append(calls * units / elapsed)
    return {name: spread(values) for name, values in rates.items()}


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def ratio(stats: dict[str, dict], candidate: str, baseline: str) -> float:
    return stats[candidate]["median"] / stats[baseline]["median"]


def line(label: str, s: dict, unit: str, width: int = 26) -> str:
    return f"  {label:<{width}}: {s['median']:9.1f} {unit} (median of {len(s['rounds'])}; min {s['min']:.1f}, max {s['max']:.1f})"


def verdict(value: float, target: float) -> str:
    return f"{value:.2f}x the baseline, ratio of medians (target >= {target}x): {'met' if value >= target else 'MISSED'}"


def machine() -> dict:
    """What the figures were measured on."""
    import cv2
    import torch

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    return {
        "cpu_model": model, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None, "python": platform.python_version(),
    }
