"""Multi-GPU training: a training task re-launches its work under torchrun (torch.distributed,
DDP), one process per GPU, and reads back rank 0's result. `python -m hggt.tasks.torchrun` is the
per-process entry point torchrun starts.

What each process runs travels as a pickled (function, run spec) pair: the function by reference
(a module-level function of the task's module, imported by the process), the spec as data. The
spec is a dataclass with a ``device`` field, which each process replaces by its own GPU."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from hggt.core.parent_death import dies_with
from hggt.core.training import stopping
from hggt.core.training.stopping import TrainingStopped

Spec = TypeVar("Spec")


def launch_torchrun(nproc: int, entry: Callable[[Spec], Any], spec: Spec) -> Any:
    """``entry(spec)`` in ``nproc`` DDP processes; rank 0's return value."""
    with tempfile.TemporaryDirectory(prefix="hggt-ddp-") as tmp:
        job, result = Path(tmp) / "job.pkl", Path(tmp) / "result.pkl"
        job.write_bytes(pickle.dumps((entry, spec)))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "hggt.tasks.torchrun", str(job), str(result)]
        # SIGTERM when this command ends, even by kill -9 or the lost-server exit: torchrun passes it
        # to every rank, which checkpoints and stops, rather than train on for nobody
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=dies_with(os.getpid()))
        relayed = False
        while True:
            try:
                _, err = proc.communicate(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if stopping.requested() and not relayed:  # torchrun passes SIGTERM on to every rank
                    proc.send_signal(signal.SIGTERM)
                    relayed = True
        value = pickle.loads(result.read_bytes()) if result.exists() else None
        if isinstance(value, TrainingStopped):
            raise value
        if proc.returncode != 0:
            raise RuntimeError(f"torchrun with {nproc} processes failed ({proc.returncode}):\n{err[-4000:]}")
        return value


def main(job: str, result: str) -> None:
    entry, spec = pickle.loads(Path(job).read_bytes())
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dist.init_process_group("nccl" if cuda else "gloo")
    for sig in (signal.SIGTERM, signal.SIGINT):  # every rank stops at the same iteration (training.recipe)
        signal.signal(sig, lambda signum, _: stopping.request(signal.Signals(signum).name))
    try:
        if cuda:
            torch.cuda.set_device(local)
            spec = dataclasses.replace(spec, device=f"cuda:{local}")
        try:
            value = entry(spec)
        except TrainingStopped as stopped:  # handed to the launching task, which reports it
            value = stopped
        if dist.get_rank() == 0:
            Path(result).write_bytes(pickle.dumps(value))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
