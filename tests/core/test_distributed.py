"""The negative-GT term under DDP: two gloo processes on the CPU, one of them without any
negative, give the gradients of one process on the concatenated batch."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

from hggt.core.training.distributed import global_batch_count
from hggt.core.training.losses import negative_gt_loss


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1))


def _data():
    g = torch.Generator().manual_seed(1)
    x, neg = torch.rand(4, 3, 8, 8, generator=g), torch.rand(4, 3, 8, 8, generator=g)
    m_ind = torch.rand(4, 1, 8, 8, generator=g)
    has_neg = torch.tensor([1.0, 1.0, 0.0, 0.0])
    return x, neg, m_ind, has_neg


SPLIT = (slice(0, 3), slice(3, 4))  # rank 0: three samples, two with negatives; rank 1: one, without


def _worker(rank: int, port: int, out: str, global_norm: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    model = nn.parallel.DistributedDataParallel(_model())
    x, neg, m_ind, has_neg = (t[SPLIT[rank]] for t in _data())
    count = global_batch_count(x.shape[0]) if global_norm else None
    negative_gt_loss(model(x), neg, m_ind, has_neg, count=count).backward()
    if rank == 0:
        torch.save([p.grad for p in model.parameters()], out)
    dist.destroy_process_group()


def _ddp_grads(tmp_path, global_norm: bool) -> list[torch.Tensor]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / f"grads-{global_norm}.pt")
    mp.spawn(_worker, args=(port, out, global_norm), nprocs=2, join=True)
    return torch.load(out, weights_only=True)


def test_ddp_gradients_equal_one_process_on_the_whole_batch(tmp_path):
    model = _model()
    x, neg, m_ind, has_neg = _data()
    negative_gt_loss(model(x), neg, m_ind, has_neg).backward()
    single = [p.grad for p in model.parameters()]
    ddp = _ddp_grads(tmp_path, global_norm=True)
    assert all(torch.allclose(a, b, atol=1e-7, rtol=1e-5) for a, b in zip(single, ddp))
    naive = _ddp_grads(tmp_path, global_norm=False)  # dividing by each rank's own batch size is wrong here
    assert not all(torch.allclose(a, b, atol=1e-7, rtol=1e-5) for a, b in zip(single, naive))


def _train_worker(rank: int, port: int, out: str) -> None:
    from hggt.core.training.distributed import global_batch_count as gbc
    from tests.core.test_realisr import _trainer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    trainer, data, _ = _trainer("rrdb", "posneg", seed=10 + rank)  # each rank its own batches
    kwargs = {"extra_loss": lambda o, more: negative_gt_loss(o, *more, count=gbc(o.shape[0]))}
    for _ in range(3):
        trainer.step(*data.next_batch(2), **kwargs)
    torch.save(trainer.state_dict(), f"{out}.{rank}")
    dist.destroy_process_group()


def test_ddp_training_keeps_the_replicas_identical(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "state")
    mp.spawn(_train_worker, args=(port, out), nprocs=2, join=True)
    a, b = torch.load(f"{out}.0", weights_only=True), torch.load(f"{out}.1", weights_only=True)
    for key in ("generator", "discriminator", "ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    from tests.core.test_realisr import _trainer

    fresh, _, _ = _trainer("rrdb", "posneg", seed=10)
    assert a["iteration"] == 3  # and they did learn: the weights moved from the common start
    assert not torch.equal(a["generator"]["conv_first.weight"], fresh.state_dict()["generator"]["conv_first.weight"])
