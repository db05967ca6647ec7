"""Config presets, overrides and hashes; image ids; duplicate detection; per-item seeding."""

import pytest
from pydantic import ValidationError

from hggt.core.presets import config_from_options, load_config, parse_override
from hggt.core.ingest import image_ids, mark_duplicates
from hggt.core.seeding import item_rng


def test_paper_defaults_are_the_papers_values():
    cfg = load_config("paper")
    p = cfg.patches
    assert (p.crop_size, p.step, p.jitter, p.min_gray_std, p.min_laplacian_var) == (512, 288, 16, 30.0, 30.0)
    assert [(r.min_length, r.max_offset) for r in p.offset_rules] == [(0, 32), (1200, 64), (2400, 128)]
    assert cfg.min_image_size() == 512


def test_overrides_parse_values_and_change_the_hash():
    base = load_config("paper")
    cfg = config_from_options("paper", ["patches.step=256", "seed=3"])
    assert cfg.patches.step == 256 and cfg.seed == 3 and cfg.patches.crop_size == 512
    assert cfg.hash != base.hash and load_config("paper").hash == base.hash
    assert parse_override("ingest.extensions=[\".png\"]") == {"ingest": {"extensions": [".png"]}}


def test_section_hash_ignores_unrelated_sections_and_shard_sizes():
    a = load_config("paper")
    b = config_from_options("paper", ["ingest.max_pixels=1000"])
    assert a.section_hash("patches") == b.section_hash("patches")
    assert a.section_hash("ingest") != b.section_hash("ingest")
    c = config_from_options("paper", ["ingest.shard_size=3", "patches.shard_size=2"])
    assert a.section_hash("ingest", "patches") == c.section_hash("ingest", "patches")


@pytest.mark.parametrize("bad", ["patches.crop_size=-1", "patches.nope=1", "preset=demo2"])
def test_invalid_overrides_are_refused(bad):
    with pytest.raises((ValidationError, ValueError)):
        config_from_options("paper", [bad])


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="demo"):
        load_config("fast")


def test_image_ids_are_readable_unique_and_stable():
    rel = ["a.png", "a.jpg", "sub/b c.png", "sub/dir/IMG-0001.JPG", "x.png"]
    assert image_ids(rel) == ["a_png", "a_jpg", "sub__b_c", "sub__dir__IMG-0001", "x"]
    assert image_ids(["A.png", "a.png"]) == ["A", "a"]


def test_duplicates_by_content_are_rejected_after_the_first():
    rows = [
        {"image_id": "b", "sha256": "1", "status": "ok"},
        {"image_id": "a", "sha256": "1", "status": "ok"},
        {"image_id": "c", "sha256": "2", "status": "ok"},
        {"image_id": "d", "sha256": "2", "status": "rejected", "reason": "too small"},
    ]
    out = {r["image_id"]: r for r in mark_duplicates(rows)}
    assert out["a"]["status"] == "ok" and out["c"]["status"] == "ok"
    assert out["b"]["reason"] == "duplicate: same content as image a"
    assert out["d"]["reason"] == "too small"


def test_item_randomness_depends_only_on_seed_stage_and_id():
    a = item_rng(0, "patches", "img1").integers(0, 2**31, 4)
    assert (a == item_rng(0, "patches", "img1").integers(0, 2**31, 4)).all()
    assert not (a == item_rng(1, "patches", "img1").integers(0, 2**31, 4)).all()
    assert not (a == item_rng(0, "degrade", "img1").integers(0, 2**31, 4)).all()
    assert not (a == item_rng(0, "patches", "img2").integers(0, 2**31, 4)).all()


def test_a_nested_override_keeps_the_sections_other_values():
    cfg = config_from_options("paper", ["train_sr.train.iterations=1000"])
    train = cfg.train_sr.train
    assert (train.iterations, train.batch_size, train.gt_size, train.pool_size) == (1000, 12, 256, 144)
    assert load_config("paper").enhancers.train.batch_size == 4 and load_config("paper").train_sr.negative_weight == 300


def test_the_paper_preset_follows_the_authors_code():
    """SPEC section 9: what the reference configs and code do where the paper's text differs."""
    cfg = load_config("paper")
    assert cfg.degrade.table_2.gray_noise_probability == 0.2  # the paper's text: 0.1
    sr = cfg.train_sr
    assert (sr.train_for("rrdb").batch_size, sr.train_for("rrdb").milestones) == (12, (200_000,))
    assert (sr.train_for("swinir").batch_size, sr.train_for("swinir").milestones) == (8, (200_000, 250_000, 275_000, 287_500))
    assert sr.train_for("swinir").gt_size == 256 and sr.train_for("swinir").pool_size == 144
    # their SwinIR Ori and Pos configs queue 160, Pos+Neg 144; their SwinIR PSNR config: lr 2e-4, four milestones, queue 160
    assert [sr.train_for("swinir", m).pool_size for m in ("ori", "pos", "posneg")] == [160, 160, 144]
    psnr = sr.train_for("swinir", "psnr")
    assert (psnr.lr, psnr.milestones, psnr.pool_size, psnr.gan_weight, psnr.perceptual_weight) == (
        2e-4, (150_000, 240_000, 270_000, 285_000), 160, 0.0, 0.0)
    assert sr.train_for("rrdb", "psnr").lr == 1e-4 and sr.psnr_init == {}
    assert not sr.train.amp and not sr.train.ema_warmup and sr.train.sampling == "epochs"
    assert sr.map_positive == "independent" and sr.clamp_negative is False and sr.negative_weight == 300
    assert cfg.split.test_sets == 100
    text = config_from_options("paper", ["degrade.table_2.gray_noise_probability=0.1", "train_sr.arch_train.swinir=null",
                                         "train_sr.clamp_negative=true"])
    assert text.degrade.table_2.gray_noise_probability == 0.1 and text.train_sr.train_for("swinir").batch_size == 12
    assert text.train_sr.clamp_negative is True
    with pytest.raises(ValueError, match="arch_train"):
        config_from_options("paper", ["train_sr.arch_train.vdsr={}"])
    with pytest.raises(ValueError, match=r"arch_train.swinir.modes: unknown mode"):
        config_from_options("paper", ["train_sr.arch_train.swinir.modes.gan={}"])
    with pytest.raises(ValueError, match="psnr_init"):
        config_from_options("paper", ["train_sr.psnr_init.vdsr=/x.pth"])


def test_the_shipped_demo_enhancers_fit_the_demo_preset():
    """The demo adopts hggt/core/demo_enhancers/ instead of training: each file must be the demo's
    enhancer of that version, with its training record beside it."""
    import json

    from hggt.core.checkpoints import torch_load
    from hggt.core.enhancement import DEMO_ENHANCERS, pretrained_folder, pretrained_problem

    cfg = load_config("demo")
    assert pretrained_folder(cfg.enhancers.pretrained) == str(DEMO_ENHANCERS) and load_config("paper").enhancers.pretrained is None
    record = json.loads((DEMO_ENHANCERS / "record.json").read_text())
    for spec in cfg.enhancers.versions:
        path = DEMO_ENHANCERS / f"{spec.version}.pt"
        payload = torch_load(path.read_bytes(), str(path))
        assert pretrained_problem(payload, spec, getattr(cfg.enhancers, spec.arch).model_dump()) is None
        assert payload["iterations"] == record[spec.version]["iterations"] > cfg.enhancers.train.iterations


def test_the_config_loads_neither_torch_nor_prefect():
    """A CPU stage worker, the CLI's validation and the annotation server resolve configs: in a
    fresh interpreter, importing hggt.core.config (and hggt.core) must not pull in torch or Prefect."""
    import subprocess
    import sys

    probe = ("import sys, hggt.core, hggt.core.config, hggt.core.presets; "
             "print(sorted(m for m in ('torch', 'prefect') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
