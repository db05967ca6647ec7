"""train-enhancers, enhance and select end to end on tiny models."""

from __future__ import annotations

import io

import pytest
import torch

from hggt.flows.build_dataset import build_dataset_flow
from hggt.flows.enhance import enhance_flow
from hggt.flows.select import select_flow
from hggt.flows.train_enhancers import train_enhancers_flow
from hggt.core import manifests, storage
from hggt.core.images import decode_png
from hggt.core.selection import mean_difference
from tests.core.test_texture import reference_stats
from tests.flows.conftest import TINY, write_good_photos


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    photos = tmp_path_factory.mktemp("photos")
    write_good_photos(photos, count=2, size=(200, 260))
    root = str(tmp_path_factory.mktemp("ds"))
    build_dataset_flow(input=str(photos), out=root, preset="demo", overrides=TINY, until="select")
    return root


def _png(root, uri):
    return decode_png(storage.read_bytes(storage.resolve(root, uri)))


def test_four_enhancers_are_trained_and_recorded(dataset):
    rows = {r["version"]: r for r in manifests.read(dataset, "enhancers").to_pylist()}
    assert {v: (r["arch"], r["setting"]) for v, r in rows.items()} == {
        "01": ("rcan", "1"), "02": ("rcan", "2"), "03": ("elan", "1"), "04": ("elan", "2")}
    for r in rows.values():
        assert r["iterations"] == 3 and r["perceptual"] is False and r["final_l1"] > 0
        data = storage.read_bytes(storage.resolve(dataset, r["checkpoint_uri"]))
        assert storage.sha256_bytes(data) == r["sha256"]
        payload = torch.load(io.BytesIO(data), weights_only=True)
        assert payload["arch"] == r["arch"] and payload["iterations"] == 3
        fs, path = storage.url_to_fs(storage.join(dataset, "enhancers", r["version"], "checkpoints"))
        assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)) == ["iter_00000002.pt", "iter_00000003.pt"]


def test_enhanced_crops_and_their_statistics(dataset):
    patches = {r["patch_id"]: r for r in manifests.read(dataset, "patches").to_pylist()}
    enhanced = manifests.read(dataset, "enhanced").to_pylist()
    assert len(enhanced) == 4 * len(patches)
    for row in enhanced[:: max(1, len(enhanced) // 30)]:
        assert row["uri"] == f"{row['version']}/{row['patch_id']}_{row['version']}.png"
        crop = _png(dataset, row["uri"])
        original = _png(dataset, patches[row["patch_id"]]["uri"])
        assert crop.shape == original.shape
        assert row["mean_abs_diff"] == pytest.approx(abs((original.astype(float) - crop).mean()), abs=1e-9)
        std, lap = reference_stats(crop, 0, 0, crop.shape[0])
        assert row["gray_std"] == pytest.approx(std, rel=1e-9) and row["lap_var"] == pytest.approx(lap, rel=1e-9)


def test_sets_follow_the_selection_rule(dataset):
    patches = manifests.read(dataset, "patches").to_pylist()
    enhanced = manifests.read(dataset, "enhanced").to_pylist()
    by_patch = {}
    for e in enhanced:
        by_patch.setdefault(e["patch_id"], []).append(e)
    expected = []
    for p in patches:
        original = _png(dataset, p["uri"])
        versions = [_png(dataset, e["uri"]) for e in by_patch[p["patch_id"]]]
        textured = any(s >= 30 and lap >= 30 for s, lap in (reference_stats(v, 0, 0, v.shape[0]) for v in [original, *versions]))
        if textured:
            expected.append((-max(mean_difference(original, v) for v in versions), p["patch_id"]))
    expected.sort()
    sets = manifests.read(dataset, "sets").to_pylist()
    assert [s["patch_id"] for s in sets] == [pid for _, pid in expected]
    assert [s["max_diff"] for s in sets] == pytest.approx([-d for d, _ in expected])


def test_enhance_rerun_is_cached_and_select_top_n(dataset):
    again = enhance_flow(out=dataset, preset="demo", overrides=TINY)
    assert again["shards_cached"] == again["shards"] and again["computed"] == 0
    top = select_flow(out=dataset, preset="demo", overrides=[*TINY, "select.top_n=3"])
    assert top["sets"] == 3 and manifests.read(dataset, "sets").num_rows == 3
    select_flow(out=dataset, preset="demo", overrides=TINY)


def test_training_resumes_to_the_same_weights(dataset, tmp_path):
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        shutil.copytree(f"{dataset}/manifests", d / "manifests")
    four = [*TINY, "enhancers.train.iterations=4"]
    two = [*TINY, "enhancers.train.iterations=2"]
    train_enhancers_flow(out=str(a), preset="demo", overrides=four, versions=["03"])
    train_enhancers_flow(out=str(b), preset="demo", overrides=two, versions=["03"])
    train_enhancers_flow(out=str(b), preset="demo", overrides=four, versions=["03"])
    wa, wb = (torch.load(d / "enhancers" / "03" / "model.pt", weights_only=True) for d in (a, b))
    assert wa["iterations"] == wb["iterations"] == 4
    assert all(torch.equal(wa["state_dict"][k], wb["state_dict"][k]) for k in wa["state_dict"])


def test_missing_vgg_weights_stop_training_with_a_clear_message(dataset, tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    out = tmp_path / "ds"
    import shutil

    shutil.copytree(f"{dataset}/manifests", out / "manifests")
    overrides = [arg for o in [*TINY, "enhancers.train.perceptual_weight=1.0"] for arg in ("--set", o)]
    result = run_cli("train-enhancers", "--out", str(out), "--preset", "demo", "--versions", "01", *overrides, check=False)
    assert result.returncode == 1
    text = " ".join((result.stdout + result.stderr).split())
    assert "vgg19-dcbb9e9d.pth" in text and "perceptual_weight=0" in text
    assert not (out / "enhancers" / "01" / "model.pt").exists()


def test_ready_enhancer_files_are_checked_and_used_instead_of_training(dataset, tmp_path):
    import shutil

    ready = tmp_path / "ready"
    ready.mkdir()
    trained = {r["version"]: r for r in manifests.read(dataset, "enhancers").to_pylist()}
    for v, r in trained.items():
        shutil.copy(storage.resolve(dataset, r["checkpoint_uri"]), ready / f"{v}.pt")
    (ready / "record.json").write_text('{"02": {"final_l1": 0.25, "perceptual": false, "seconds": 9.0}}')
    out = tmp_path / "ds"
    shutil.copytree(f"{dataset}/manifests", out / "manifests")
    overrides = [*TINY, f"enhancers.pretrained={ready}"]
    summary = train_enhancers_flow(out=str(out), preset="demo", overrides=overrides)
    assert summary["computed"] == 4 and summary["iterations"] == {v: 3 for v in trained}
    rows = {r["version"]: r for r in manifests.read(str(out), "enhancers").to_pylist()}
    for v, r in rows.items():
        assert r["sha256"] == trained[v]["sha256"] and r["source"].endswith(f"{v}.pt") and r["iterations"] == 3
        assert (out / r["checkpoint_uri"]).read_bytes() == (ready / f"{v}.pt").read_bytes()
    assert rows["02"]["final_l1"] == 0.25 and rows["02"]["seconds"] == 9.0 and rows["01"]["final_l1"] is None
    assert train_enhancers_flow(out=str(out), preset="demo", overrides=overrides)["shards_cached"] == 4
    with pytest.raises(ValueError, match=r"03\.pt cannot be enhancer 03: its elan network differs .* channels"):
        train_enhancers_flow(out=str(out), preset="demo", overrides=[*overrides, "enhancers.elan.channels=24"], versions=["03"])
    (ready / "01.pt").unlink()
    with pytest.raises(FileNotFoundError, match="enhancers.pretrained=null"):
        train_enhancers_flow(out=str(out), preset="demo", overrides=overrides, versions=["01"])
