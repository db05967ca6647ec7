"""The maps stage on hand-made labels: every (positive, negative) pair, the no-positive case,
sets without negatives left out, stored maps equal to a recomputation."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from hggt.flows.maps import maps_flow
from hggt.core import manifests, storage
from hggt.core.images import decode_png
from hggt.core.maps import indication_map
from hggt.core.stage_work.maps import load_maps


def test_maps_cover_every_pair_and_match_a_recomputation(labelled, tmp_path):
    src, sets = labelled
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    summary = maps_flow(out=str(root), preset="demo")
    rows = manifests.read(str(root), "maps").to_pylist()
    assert {(r["set_id"], r["pos_version"], r["neg_version"], r["n_pos"], r["n_neg"]) for r in rows} == {
        (sets[0], "01", "03", 3, 2), (sets[0], "02", "03", 2, 2), (sets[1], "original", "04", 0, 3)}
    assert summary["sets"] == 2 and summary["items"] == 3
    images = {(r["set_id"], r["file"]): r["uri"] for r in manifests.read(str(root), "set_images").to_pylist()}

    def img(set_id, f):
        return decode_png(storage.read_bytes(storage.resolve(str(root), images[(set_id, f)]))).astype(np.float32) / 255

    for r in rows:
        data = storage.read_bytes(storage.resolve(str(root), r["uri"]))
        assert storage.sha256_bytes(data) == r["sha256"]
        stored = load_maps(data)
        pos = None if r["pos_version"] == "original" else img(r["set_id"], r["pos_version"])
        expected = indication_map(img(r["set_id"], "original"), pos, img(r["set_id"], r["neg_version"]), r["n_pos"], r["n_neg"])
        for name, want in zip(("m_pos", "m_neg", "m_ind"), expected):
            np.testing.assert_allclose(stored[name], want, rtol=2e-3, atol=1e-4)  # float16 storage
        assert r["nonzero_fraction"] == pytest.approx(float((expected[2] > 0).mean()))
    figures = {r["set_id"]: r["figure_uri"] for r in rows if r["figure_uri"]}
    assert set(figures) == {sets[0], sets[1]}
    assert all((root / uri).is_file() for uri in figures.values())
    again = maps_flow(out=str(root), preset="demo")
    assert again["shards_cached"] == again["shards"]
