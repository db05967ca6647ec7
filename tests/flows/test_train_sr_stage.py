"""train-sr end to end on tiny models: psnr pretraining, a GAN mode starting from it, runs.parquet."""

from __future__ import annotations

import shutil

import pytest
import torch

from hggt.flows.train_sr import train_sr_flow
from hggt.core import manifests, storage

SR_TINY = [
    "train_sr.rrdb.blocks=1", "train_sr.rrdb.channels=8", "train_sr.rrdb.growth=4",
    "train_sr.swinir.embed_dim=12", "train_sr.swinir.depths=[2]", "train_sr.swinir.num_heads=[2]",
    "train_sr.swinir.window_size=4", "train_sr.swinir.num_feat=8",
    "train_sr.train.iterations=3", "train_sr.train.batch_size=2", "train_sr.train.gt_size=32",
    "train_sr.train.pool_size=2", "train_sr.train.checkpoint_every=2", "train_sr.train.discriminator_channels=8",
    "train_sr.train.deterministic=true",
]


def test_psnr_then_posneg_runs_are_registered(labelled, tmp_path):
    src, _ = labelled
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    with pytest.raises(Exception, match="no psnr run of swinir"):
        train_sr_flow(out=str(root), arch="swinir", mode="pos", preset="demo", overrides=SR_TINY)
    psnr = train_sr_flow(out=str(root), arch="swinir", mode="psnr", preset="demo", overrides=SR_TINY)
    posneg = train_sr_flow(out=str(root), arch="swinir", mode="posneg", preset="demo", overrides=SR_TINY)
    assert posneg["init_run"] == psnr["run_id"] and posneg["final_negative"] is not None and psnr["final_gan"] is None
    runs = {r["run_id"]: r for r in manifests.read(str(root), "runs").to_pylist()}
    assert set(runs) == {psnr["run_id"], posneg["run_id"]}
    row = runs[posneg["run_id"]]
    assert row["mode"] == "posneg" and row["arch"] == "swinir" and row["iterations"] == 3 and row["sets"] == 3
    assert row["negative_weight"] == 30.0 and row["perceptual"] is False and row["config_hash"]  # the demo preset
    shares = [row[f"share_{p}"] for p in ("data", "degrade", "pool", "forward", "backward", "optimizer")]
    assert row["iterations_per_s"] > 0 and row["samples_per_s"] == pytest.approx(2 * row["iterations_per_s"])
    assert sum(shares) == pytest.approx(1.0) and min(shares) >= 0 and row["share_degrade"] > 0
    model = storage.read_bytes(storage.resolve(str(root), row["checkpoint_uri"]))
    assert storage.sha256_bytes(model) == row["sha256"]
    assert (root / "runs" / row["run_id"] / "samples.png").is_file()
    assert sorted(p.name for p in (root / "runs" / row["run_id"] / "checkpoints").iterdir()) == ["iter_00000002.pt", "iter_00000003.pt"]
    again = train_sr_flow(out=str(root), arch="swinir", mode="posneg", preset="demo", overrides=SR_TINY)
    assert again["shards_cached"] == 1 and again["run_id"] == posneg["run_id"]
    payload = torch.load(root / row["checkpoint_uri"], weights_only=True)
    assert payload["mode"] == "posneg" and payload["scale"] == 4


@pytest.mark.slow
def test_a_torchrun_launch_of_two_gloo_processes(labelled, tmp_path):
    src, _ = labelled
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    overrides = [*SR_TINY, "train_sr.train.nproc=2", "train_sr.train.iterations=2"]
    summary = train_sr_flow(out=str(root), arch="rrdb", mode="posneg", preset="demo", overrides=overrides, init="none")
    row = {r["run_id"]: r for r in manifests.read(str(root), "runs").to_pylist()}[summary["run_id"]]
    assert row["iterations"] == 2 and row["device"] == "cpu x2"
    checkpoint = torch.load(root / "runs" / row["run_id"] / "checkpoints" / "iter_00000002.pt", weights_only=True)
    assert len(checkpoint["data"]) == 2 and len(checkpoint["pools"]) == 2  # every rank's stream, for an exact resume
