"""Multi-GPU training: a training task re-launches its work under torchrun (torch.distributed,
DDP), one process per GPU, and reads back rank 0's result. `python -m tasks.torchrun` is the
per-process entry point torchrun starts."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist


def launch_torchrun(nproc: int, args: tuple) -> dict:
    with tempfile.TemporaryDirectory(prefix="hggt-ddp-") as tmp:
        spec, result = Path(tmp) / "args.pkl", Path(tmp) / "result.pkl"
        spec.write_bytes(pickle.dumps(args))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "tasks.torchrun", str(spec), str(result)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"torchrun with {nproc} processes failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return pickle.loads(result.read_bytes())


def main(spec: str, result: str) -> None:
    from tasks.train_sr import train_sr_run

    args = pickle.loads(Path(spec).read_bytes())
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        args = list(args)
        if cuda:
            torch.cuda.set_device(local)
            args[7] = f"cuda:{local}"  # the device argument
        row = train_sr_run(*args)
        if dist.get_rank() == 0:
            Path(result).write_bytes(pickle.dumps(row))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
