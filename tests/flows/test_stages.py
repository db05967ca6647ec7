"""The ingest and patch-extraction flows on real files, local and in memory."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow.compute as pc
import pytest

from hggt.flows.build_dataset import build_dataset_flow
from hggt.flows.degrade import synthesize_lr_flow
from hggt.flows.patches import patches_flow
from hggt.flows.ingest import ingest_flow
from hggt.core import manifests, storage
from hggt.core.images import decode_image, decode_png
from tests.core.test_texture import reference_stats
from tests.flows.conftest import EXPECTED_REJECTS, write_good_photos

DEMO = {"preset": "demo", "overrides": ["ingest.max_pixels=1000000"]}


def _roots(tmp_path):
    return [str(tmp_path / "local-ds"), f"memory://hggt-{uuid.uuid4().hex}"]


def test_ingest_records_every_bad_input_and_goes_on(mixed_photos, tmp_path):
    for root in _roots(tmp_path):
        summary = ingest_flow(input=str(mixed_photos), out=root, **DEMO)
        rows = {r["image_id"]: r for r in manifests.read(root, "images").to_pylist()}
        assert "readme" not in rows
        rejected = {k: r["reason"] for k, r in rows.items() if r["status"] == "rejected"}
        assert set(rejected) == set(EXPECTED_REJECTS)
        for image_id, fragment in EXPECTED_REJECTS.items():
            assert fragment in rejected[image_id], (image_id, rejected[image_id])
        ok = {k: r for k, r in rows.items() if r["status"] == "ok"}
        assert set(ok) == {"photo1", "copy-of-photo0", "nested__jpeg_photo", "gray", "alpha", "deep", "photo", "lossless"}
        assert "alpha composited onto white" in ok["alpha"]["conversion"]
        assert "16-bit" in ok["deep"]["conversion"] and "grayscale" in ok["gray"]["conversion"]
        assert (ok["nested__jpeg_photo"]["width"], ok["nested__jpeg_photo"]["height"]) == (330, 260)
        for r in ok.values():
            assert r["sha256"] == storage.sha256_bytes(storage.read_bytes(r["uri"]))
        assert summary["ok"] == 8 and summary["rejected"] == 6
        logged = manifests.read(root, "rejected").to_pylist()
        assert {(r["stage"], r["item_id"]) for r in logged} == {("ingest", k) for k in EXPECTED_REJECTS}


def _check_patches(root: str, cfg_crop: int) -> None:
    images = {r["image_id"]: r for r in manifests.read(root, "images").to_pylist()}
    table = manifests.read(root, "patches")
    assert table.num_rows > 0
    decoded = {}
    for row in table.to_pylist():
        assert row["patch_id"] == f"{row['image_id']}-{row['row']}-{row['col']}"
        assert row["uri"] == f"original/{row['patch_id']}.png" and row["size"] == cfg_crop
        data = storage.read_bytes(storage.resolve(root, row["uri"]))
        assert storage.sha256_bytes(data) == row["sha256"] and len(data) == row["bytes"]
        if row["image_id"] not in decoded:
            decoded[row["image_id"]] = decode_image(storage.read_bytes(images[row["image_id"]]["uri"]), 10**8).rgb
        rgb = decoded[row["image_id"]]
        crop = rgb[row["row"] : row["row"] + cfg_crop, row["col"] : row["col"] + cfg_crop]
        assert np.array_equal(decode_png(data), crop)
        std, lap = reference_stats(rgb, row["row"], row["col"], cfg_crop)
        assert row["gray_std"] == pytest.approx(std, rel=1e-12) and row["lap_var"] == pytest.approx(lap, rel=1e-12)


def test_patches_are_the_same_on_disk_and_in_memory(tmp_path):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=3)
    tables = []
    for root in _roots(tmp_path):
        summary = patches_flow(out=root, input=str(photos), preset="demo")
        _check_patches(root, 128)
        table = manifests.read(root, "patches")
        assert summary["items"] == table.num_rows
        assert summary["texture_ok"] == pc.sum(table["texture_ok"]).as_py() > 0
        tables.append(table)
    assert tables[0].equals(tables[1])


def test_sharding_and_workers_do_not_change_outputs(tmp_path):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=5)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    build_dataset_flow(input=str(photos), out=a, preset="demo", overrides=["patches.shard_size=1", "ingest.shard_size=1"], until="degrade")
    build_dataset_flow(input=str(photos), out=b, preset="demo", overrides=["patches.shard_size=5"], until="degrade")
    synthesize_lr_flow(source=a, out=a, preset="demo", overrides=["degrade.shard_size=1"])
    synthesize_lr_flow(source=b, out=b, preset="demo")
    for name in ("images", "patches", "degradations", "lr_test"):
        ta, tb = manifests.read(a, name), manifests.read(b, name)
        if name == "images":
            ta, tb = ta.drop_columns(["uri"]), tb.drop_columns(["uri"])
        assert ta.equals(tb)


def test_rerun_hits_the_cache_and_repairs_missing_outputs(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=3)
    root = str(tmp_path / "ds")
    first = patches_flow(out=root, input=str(photos), preset="demo")
    before = storage.read_bytes(manifests.manifest_url(root, "patches"))

    import hggt.core.images

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached re-run decoded an image")

    monkeypatch.setattr(hggt.core.images, "decode_image", no_decoding)
    monkeypatch.setattr("hggt.core.stage_work.patches.decode_image", no_decoding)
    monkeypatch.setattr("hggt.core.ingest.decode_image", no_decoding)
    again = patches_flow(out=root, input=str(photos), preset="demo")
    assert again["shards_cached"] == again["shards"] == first["shards"] and again["computed"] == 0
    assert storage.read_bytes(manifests.manifest_url(root, "patches")) == before
    monkeypatch.undo()

    victim = manifests.read(root, "patches").to_pylist()[5]
    url = storage.resolve(root, victim["uri"])
    storage.remove(url)
    repaired = patches_flow(out=root, preset="demo")
    assert storage.sha256_bytes(storage.read_bytes(url)) == victim["sha256"]
    assert repaired["shards_cached"] == repaired["shards"] - 1 and repaired["computed"] == 1
    assert storage.read_bytes(manifests.manifest_url(root, "patches")) == before


def test_a_photo_changed_after_ingest_is_rejected_by_patches(tmp_path):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=2)
    root = str(tmp_path / "ds")
    ingest_flow(input=str(photos), out=root, preset="demo")
    (photos / "photo1.png").write_bytes((photos / "photo0.png").read_bytes()[:-100] + b"x" * 100)
    summary = patches_flow(out=root, preset="demo")
    assert summary["rejected"] == 1 and "changed since ingest" in summary["reasons"][0][1]
    rejected = manifests.read(root, "rejected").to_pylist()
    assert [(r["stage"], r["item_id"]) for r in rejected] == [("patches", "photo1")]
    assert set(manifests.read(root, "patches").column("image_id").to_pylist()) == {"photo0"}


def test_patches_without_ingest_says_what_to_run(tmp_path):
    with pytest.raises(Exception, match="run `hggt ingest` first"):
        patches_flow(out=str(tmp_path / "empty"), preset="demo")


def test_truncated_or_edited_artifacts_are_named_and_recomputed(tmp_path, caplog):
    import os
    import time

    photos = tmp_path / "photos"
    write_good_photos(photos, count=2)
    root = str(tmp_path / "ds")
    patches_flow(out=root, input=str(photos), preset="demo")
    rows = manifests.read(root, "patches").to_pylist()
    truncated, edited = (tmp_path / "ds" / rows[1]["uri"]), (tmp_path / "ds" / rows[-1]["uri"])
    truncated.write_bytes(truncated.read_bytes()[:100])
    data = bytearray(edited.read_bytes())
    data[-20] ^= 0xFF  # same size, other content
    time.sleep(1.2)
    edited.write_bytes(bytes(data))
    os.utime(edited)
    caplog.set_level("WARNING")
    again = patches_flow(out=root, preset="demo")
    assert again["computed"] >= 1
    for row, path in ((rows[1], truncated), (rows[-1], edited)):
        assert storage.sha256_bytes(path.read_bytes()) == row["sha256"]
    text = caplog.text
    assert f"{rows[1]['uri']}: 100 bytes where" in text and f"{rows[-1]['uri']}: content no longer matches" in text
