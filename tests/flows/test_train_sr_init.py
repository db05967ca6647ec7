"""train-sr --init with a BasicSR-style .pth file: the run starts from its EMA weights, and a file
for another network stops the run with the keys that differ."""

from __future__ import annotations

import shutil

import pytest
import torch

from hggt.core.presets import resolve_config
from hggt.flows.train_sr import train_sr_flow
from hggt.core.archs import build_generator
from hggt.core.checkpoints import CheckpointError
from tests.flows.test_train_sr_stage import SR_TINY

# lr 0: the generator keeps its initial weights (and so does its EMA), so model.pt shows where it started.
TINY = [*SR_TINY, "train_sr.train.iterations=1", "train_sr.train.checkpoint_every=1", "train_sr.train.lr=0"]


def test_a_gan_run_starts_from_a_basicsr_file(labelled, tmp_path):
    src, _ = labelled
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    options = resolve_config("demo", TINY, None).train_sr.rrdb.model_dump()
    torch.manual_seed(7)
    ema, raw = build_generator("rrdb", **options), build_generator("rrdb", **options)
    init = tmp_path / "RRDB_DF2K_OST_Blind_PSNR_x4.pth"
    torch.save({"params_ema": ema.state_dict(), "params": raw.state_dict()}, init)

    summary = train_sr_flow(out=str(root), arch="rrdb", mode="pos", preset="demo", overrides=TINY, init=str(init))
    assert summary["init_run"] == f"file:{init}" and summary["iterations"] == 1
    payload = torch.load(root / "runs" / summary["run_id"] / "model.pt", weights_only=True)
    start = ema.state_dict()
    assert all(torch.allclose(v, start[k], atol=1e-6) for k, v in payload["state_dict"].items())

    wrong = tmp_path / "deeper.pth"
    torch.save({"params_ema": build_generator("rrdb", **{**options, "blocks": 2}).state_dict()}, wrong)
    with pytest.raises(CheckpointError, match=r"(?s)deeper.pth .*does not fit the rrdb generator.*unexpected in the file.*body\.1\."):
        train_sr_flow(out=str(root), arch="rrdb", mode="pos", preset="demo", overrides=TINY, init=str(wrong))


def test_a_psnr_run_starts_from_train_sr_psnr_init(labelled, tmp_path):
    """The authors start their PSNR pretraining from bicubic-PSNR weights: train_sr.psnr_init names
    the file per architecture, and train_sr.init (the GAN modes' start) does not apply to psnr."""
    src, _ = labelled
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    options = resolve_config("demo", TINY, None).train_sr.rrdb.model_dump()
    torch.manual_seed(3)
    bicubic = build_generator("rrdb", **options)
    init = tmp_path / "RRDB_bicubic_PSNR.pth"
    torch.save({"params_ema": bicubic.state_dict()}, init)
    overrides = [*TINY, f"train_sr.psnr_init.rrdb={init}", "train_sr.init=/no/such/file.pth"]
    summary = train_sr_flow(out=str(root), arch="rrdb", mode="psnr", preset="demo", overrides=overrides)
    assert summary["init_run"] == f"file:{init}"
    payload = torch.load(root / "runs" / summary["run_id"] / "model.pt", weights_only=True)
    start = bicubic.state_dict()
    assert all(torch.allclose(v, start[k], atol=1e-6) for k, v in payload["state_dict"].items())
