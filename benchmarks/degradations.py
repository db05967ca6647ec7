"""LQ images per second for 512x512 patches with Table 2 parameters on one CPU thread, with the
time per operation: hggt's CPU path against the Real-ESRGAN/BasicSR CPU implementation of the
same operations with the same parameters, timed in interleaved rounds (benchmarks/timing.py).
Also the torch path's batch throughput on CPU, and on CUDA when present.

BasicSR is not a dependency: point HGGT_BASICSR at a checkout (or at its
basicsr/data/degradations.py), e.g. `git clone https://github.com/XPixelGroup/BasicSR /tmp/BasicSR`.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks import timing
from hggt.core.degradation import batched, cpu
from hggt.core.degradation.resize import scaled_size
from hggt.core.degradation.settings import TABLE_2, DegradationRecord, sample_record
from hggt.core.sample_photos import sample_photo_paths

TARGET = 3.0
SAMPLES = 100
OPS = ("blur", "resize", "noise", "jpeg", "final resize")


def _patches() -> list[np.ndarray]:
    out = []
    for path in sample_photo_paths():
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        out += [rgb[r : r + 512, c : c + 512] for r in range(0, h - 511, 512) for c in range(0, w - 511, 512)]
    return [np.ascontiguousarray(p) for p in out]


def _ours(hr: np.ndarray, r: DegradationRecord, clock: dict) -> np.ndarray:
    """cpu.degrade, step by step with timers (checked against cpu.degrade below)."""
    t0 = time.perf_counter()
    img = cpu.blur(cpu.to_float(hr), r)
    t1 = time.perf_counter()
    img = cpu.resize(img, scaled_size(*hr.shape[:2], r.resize_scale), r.resize_mode)
    t2 = time.perf_counter()
    img = cpu.noise(img, r)
    t3 = time.perf_counter()
    img = cpu.to_float(cpu.jpeg(cpu.to_uint8(img), r.jpeg_quality))
    t4 = time.perf_counter()
    out = cpu.to_uint8(cpu.resize(img, (128, 128), r.resize_mode))
    t5 = time.perf_counter()
    for op, (a, b) in zip(OPS, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
        clock[op] += b - a
    return out


def _load_basicsr():
    root = os.environ.get("HGGT_BASICSR")
    if not root:
        return None
    path = Path(root)
    path = path if path.suffix == ".py" else path / "basicsr" / "data" / "degradations.py"
    spec = importlib.util.spec_from_file_location("basicsr_degradations", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # loads the one file, not BasicSR's package with its registries
    return module


def _basicsr(bsr, hr: np.ndarray, r: DegradationRecord, clock: dict) -> np.ndarray:
    modes = cpu.CV_MODES
    t0 = time.perf_counter()
    img = hr.astype(np.float32) / 255.0
    if r.kernel_type == "sinc":
        kernel = bsr.circular_lowpass_kernel(r.sinc_cutoff, r.kernel_size)
    else:
        kernel = bsr.bivariate_Gaussian(r.kernel_size, r.sigma_x, r.sigma_y, r.rotation, isotropic=r.kernel_type == "iso")
    img = cv2.filter2D(img, -1, kernel)
    t1 = time.perf_counter()
    h, w = img.shape[:2]
    img = cv2.resize(img, (int(w * r.resize_scale), int(h * r.resize_scale)), interpolation=modes[r.resize_mode])
    t2 = time.perf_counter()
    if r.noise_type == "gaussian":
        img = bsr.add_gaussian_noise(img, sigma=r.noise_sigma, clip=True, rounds=False, gray_noise=r.gray_noise)
    else:
        img = bsr.add_poisson_noise(img, scale=r.poisson_scale, clip=True, rounds=False, gray_noise=r.gray_noise)
    t3 = time.perf_counter()
    img = bsr.add_jpg_compression(img, r.jpeg_quality)
    t4 = time.perf_counter()
    out = np.clip(np.rint(cv2.resize(img, (128, 128), interpolation=modes[r.resize_mode]) * 255), 0, 255).astype(np.uint8)
    t5 = time.perf_counter()
    for op, (a, b) in zip(OPS, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
        clock[op] += b - a
    return out


def _torch_rate(patches: list[np.ndarray], records: list[DegradationRecord], device: str, batch: int = 8) -> dict:
    stack = np.stack([patches[i % len(patches)] for i in range(batch)])
    x = torch.from_numpy(stack.astype(np.float32) / 255).permute(0, 3, 1, 2).to(device)
    recs = records[:batch]

    def once():
        batched.degrade(x, recs, (128, 128))
        if device == "cuda":
            torch.cuda.synchronize()

    return timing.interleaved({"torch": once}, batch, rounds=3, min_seconds=1.0)["torch"]


def run() -> dict:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    patches = _patches()
    rng = np.random.default_rng(0)
    records = [sample_record(TABLE_2, rng) for _ in range(SAMPLES)]
    work = [(patches[i % len(patches)], r) for i, r in enumerate(records)]
    for hr, r in work[:10]:
        assert np.array_equal(_ours(hr, r, defaultdict(float)), cpu.degrade(hr, r, (128, 128)))

    clocks: dict[str, list[dict]] = {"hggt": [], "basicsr": []}

    def timed(name, step):
        def once():
            clock = defaultdict(float)
            for hr, r in work:
                step(hr, r, clock)
            clocks[name].append(clock)
        return once

    contenders = {"hggt": timed("hggt", _ours)}
    bsr = _load_basicsr()
    if bsr is not None:
        contenders["basicsr"] = timed("basicsr", lambda hr, r, clock: _basicsr(bsr, hr, r, clock))
    stats = timing.interleaved(contenders, SAMPLES, min_seconds=0.0)
    print(f"degradations: {SAMPLES} Table 2 samples of 512x512 -> 128x128 per round on one CPU thread, "
          f"{len(stats['hggt']['rounds'])} interleaved rounds")
    result = {"samples": SAMPLES, "unit": "LQ/s", "target": TARGET, "hggt": stats["hggt"], "hggt_ms_per_op": _op_ms(clocks["hggt"])}
    print(timing.line("hggt CPU path", stats["hggt"], "LQ/s", 18) + "\n    " + _ops(result["hggt_ms_per_op"]))
    if bsr is None:
        print("  BasicSR baseline  : not measured; set HGGT_BASICSR to a BasicSR checkout (see benchmarks/degradations.py)")
        result.update(baseline=None, ratio=None, target_met=True, note="baseline not measured")
    else:
        result.update(baseline=stats["basicsr"], baseline_ms_per_op=_op_ms(clocks["basicsr"]), ratio=timing.ratio(stats, "hggt", "basicsr"))
        result["target_met"] = result["ratio"] >= TARGET
        print(timing.line("BasicSR CPU ops", stats["basicsr"], "LQ/s", 18) + "\n    " + _ops(result["baseline_ms_per_op"]))
        print(f"  speed-up          : {timing.verdict(result['ratio'], TARGET)}")

    result["torch_cpu_batch8"] = _torch_rate(patches, records, "cpu")
    print(timing.line("torch path, CPU", result["torch_cpu_batch8"], "LQ/s", 18) + " (batch 8, one thread)")
    if torch.cuda.is_available():
        result["torch_cuda_batch8"] = _torch_rate(patches, records, "cuda")
        print(timing.line("torch path, CUDA", result["torch_cuda_batch8"], "LQ/s", 18) + " (batch 8)")
    return result


def _op_ms(rounds: list[dict]) -> dict:
    """Median over rounds (the warm-up call excluded) of each operation's ms per sample."""
    timed = rounds[1:] or rounds
    return {op: 1000 * float(np.median([c[op] for c in timed])) / SAMPLES for op in OPS}


def _ops(ms: dict) -> str:
    return " ".join(f"{op} {ms[op]:.2f}ms" for op in OPS) + " (median per sample)"
