"""The degrade and synthesize-lr stages: every LQ image regenerates exactly from its record,
re-runs reproduce bytes, and an interrupted run resumes to the same manifest."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from hggt.flows.degrade import degrade_flow, synthesize_lr_flow
from hggt.flows.patches import patches_flow
from hggt.core import manifests, storage
from hggt.core.presets import load_config
from hggt.core.degradation import cpu
from hggt.core.degradation.settings import DegradationRecord
from hggt.core.images import decode_png
from tests.flows.conftest import write_good_photos
from tests.source_tree import copy_packages, edit_module, python_in


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    photos = tmp_path_factory.mktemp("photos")
    write_good_photos(photos, count=2)
    root = str(tmp_path_factory.mktemp("ds"))
    patches_flow(out=root, input=str(photos), preset="demo")
    return root


def _hr(root: str, patch_id: str) -> np.ndarray:
    return decode_png(storage.read_bytes(storage.join(root, "original", f"{patch_id}.png")))


def test_every_lq_image_regenerates_from_its_record(dataset, tmp_path):
    out = str(tmp_path / "lq")
    summary = degrade_flow(source=dataset, out=out, preset="demo", settings=["1", "2"], samples_per_patch=2, seed=3)
    patches = manifests.read(dataset, "patches")
    textured = patches.filter(pc.equal(patches["texture_ok"], True)).column("patch_id").to_pylist()
    rows = manifests.read(out, "degradations").to_pylist()
    assert summary["items"] == len(rows) == 4 * len(textured) > 0
    assert {r["patch_id"] for r in rows} == set(textured)
    assert {r["setting"] for r in rows} == {"1", "2"}
    settings = load_config("demo").degrade
    for row in rows[:: max(1, len(rows) // 25)]:
        record = DegradationRecord.from_row(row)
        s = settings.named(row["setting"])
        assert s.noise_sigma_range[0] <= row["noise_sigma"] <= s.noise_sigma_range[1] or row["noise_type"] == "poisson"
        data = storage.read_bytes(storage.resolve(out, row["uri"]))
        assert storage.sha256_bytes(data) == row["sha256"]
        assert np.array_equal(decode_png(data), cpu.degrade(_hr(dataset, row["patch_id"]), record))


def test_same_seed_same_bytes_other_seed_other_records(dataset, tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    degrade_flow(source=dataset, out=a, preset="demo", seed=7)
    degrade_flow(source=dataset, out=b, preset="demo", seed=7, overrides=["degrade.shard_size=3"])
    degrade_flow(source=dataset, out=c, preset="demo", seed=8)
    ta, tb, tc = (manifests.read(x, "degradations") for x in (a, b, c))
    assert ta.equals(tb)
    assert ta.column("seed").to_pylist() != tc.column("seed").to_pylist()


def test_an_interrupted_run_resumes_to_the_same_manifest(dataset, tmp_path, monkeypatch):
    reference, resumed = str(tmp_path / "ref"), str(tmp_path / "resumed")
    degrade_flow(source=dataset, out=reference, preset="demo", overrides=["degrade.shard_size=4"])
    calls = {"n": 0}
    real = cpu.degrade

    def crash_after_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise MemoryError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr("hggt.core.stage_work.degrade.cpu.degrade", crash_after_five)
    with pytest.raises(Exception, match="shards failed"):
        degrade_flow(source=dataset, out=resumed, preset="demo", overrides=["degrade.shard_size=4"])
    monkeypatch.undo()
    summary = degrade_flow(source=dataset, out=resumed, preset="demo", overrides=["degrade.shard_size=4"])
    assert manifests.read(resumed, "degradations").equals(manifests.read(reference, "degradations"))
    assert summary["computed"] < summary["inputs"]  # the patches finished before the crash were reused


def test_lr_test_inputs_are_quarter_size_table2_draws(dataset, tmp_path):
    out = str(tmp_path / "lr")
    summary = synthesize_lr_flow(source=dataset, out=out, preset="demo", seed=1)
    rows = manifests.read(out, "lr_test").to_pylist()
    assert summary["items"] == len(rows) > 0
    t2 = load_config("demo").degrade.table_2
    for row in rows:
        assert row["scale"] == 4 and row["setting"] == "table2"
        assert t2.jpeg_range[0] <= row["jpeg_quality"] <= t2.jpeg_range[1]
        assert row["kernel_size"] in (3, 5, 7, 9)
    row = rows[0]
    lr = decode_png(storage.read_bytes(storage.resolve(out, row["uri"])))
    hr = _hr(dataset, row["patch_id"])
    assert lr.shape == (hr.shape[0] // 4, hr.shape[1] // 4, 3)
    assert np.array_equal(lr, cpu.degrade(hr, DegradationRecord.from_row(row), target=lr.shape[:2]))
    again = synthesize_lr_flow(source=dataset, out=out, preset="demo", seed=1)
    assert again["shards_cached"] == again["shards"]


def test_a_deleted_patch_is_reported_not_fatal(dataset, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    patches = manifests.read(str(copy), "patches")
    victim = patches.filter(pc.equal(patches["texture_ok"], True)).column("patch_id")[0].as_py()
    (copy / "original" / f"{victim}.png").unlink()
    summary = degrade_flow(source=str(copy), out=str(copy), preset="demo")
    assert summary["rejected"] == 1 and summary["reasons"][0][0] == victim
    assert victim not in set(manifests.read(str(copy), "degradations").column("patch_id").to_pylist())


@pytest.mark.slow
def test_an_edit_of_a_module_degrade_imports_recomputes_every_item(dataset, tmp_path, prefect_server):
    """From the source, not a patched CODE: a copy of the packages re-runs degrade from its cache
    until a module it imports (poisson, which no hand-written list named) is edited."""
    out = str(tmp_path / "lq")
    first = degrade_flow(source=dataset, out=out, preset="demo")
    made = manifests.read(out, "degradations")
    tree = copy_packages(tmp_path / "tree")
    rerun = ("import json, hggt.tasks.degradations as d\nfrom hggt.flows.degrade import degrade_flow\n"
             f"print(json.dumps({{**degrade_flow(source={dataset!r}, out={out!r}, preset='demo'), 'file': d.__file__}}, default=str))")
    moved = python_in(tree, rerun, PREFECT_API_URL=prefect_server)
    assert moved["file"].startswith(str(tree)) and moved["computed"] == 0 and moved["shards_cached"] == moved["shards"]
    edit_module(tree, "hggt.core.degradation.poisson")
    edited = python_in(tree, rerun, PREFECT_API_URL=prefect_server)
    assert edited["shards_cached"] == 0 and edited["computed"] == edited["inputs"] == first["inputs"] > 0
    assert manifests.read(out, "degradations").equals(made)  # the edit changed no result, yet nothing was reused
