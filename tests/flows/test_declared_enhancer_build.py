"""A declared enhancer beside two trained ones: a tiny random ESRGAN model file, loaded through
Spandrel, as version `zoo` of three, through build-dataset from ingest to the maps (proxy
annotation), with the demo's shipped enhancers as 01 and 03."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from hggt.flows.build_dataset import build_dataset_flow
from hggt.core import manifests, storage
from hggt.core.annotation.published import parse_label_file
from hggt.core.annotation.store import store_for
from hggt.core.dataset import open_dataset
from hggt.core.images import decode_png
from tests.declared_models import save_rrdb
from tests.flows.conftest import write_good_photos

VERSIONS = ("01", "03", "zoo")


def test_a_declared_model_is_a_version_from_enhancement_to_the_maps(tmp_path):
    photos, root = tmp_path / "photos", str(tmp_path / "ds")
    write_good_photos(photos, count=2, size=(200, 260))
    (tmp_path / "zoo").mkdir()
    model = save_rrdb(tmp_path / "zoo" / "esrgan-x2.safetensors", scale=2)
    config = tmp_path / "hggt.json"
    config.write_text(json.dumps({"enhancers": {"versions": [
        {"version": "01", "arch": "rcan", "setting": "1"}, {"version": "03", "arch": "elan", "setting": "1"},
        {"version": "zoo", "model": str(model), "scale": 2},
    ]}, "select": {"top_n": 6}}))
    summary = build_dataset_flow(input=str(photos), out=root, preset="demo", config_file=str(config), until="maps")
    assert summary is not None
    from hggt.core.summary import enhancer_counts

    # what `hggt build` prints: the shipped 01 and 03 adopted, zoo declared; none of them counted as trained
    assert enhancer_counts(summary["stages"]["train-enhancers"]) == {
        "enhancers adopted ready-made": 2, "enhancers declared (model files, not trained)": 1}

    enhancers = {r["version"]: r for r in manifests.read(root, "enhancers").to_pylist()}
    assert sorted(enhancers) == sorted(VERSIONS)
    zoo = enhancers["zoo"]
    assert (zoo["kind"], zoo["arch"], zoo["scale"], zoo["setting"]) == ("declared", "ESRGAN", 2, None)
    assert zoo["sha256"] == storage.sha256_bytes(model.read_bytes()) and zoo["source"] == str(model)
    assert zoo["parameters"] == 226_747 and zoo["checkpoint_uri"] == "enhancers/zoo/model.safetensors"
    assert enhancers["01"]["kind"] is None and enhancers["01"]["arch"] == "rcan"

    enhanced = manifests.read(root, "enhanced").to_pylist()
    per_patch = defaultdict(set)
    for r in enhanced:
        per_patch[r["patch_id"]].add(r["version"])
    assert per_patch and all(v == set(VERSIONS) for v in per_patch.values())
    crop = next(r for r in enhanced if r["version"] == "zoo")
    assert decode_png(storage.read_bytes(storage.resolve(root, crop["uri"]))).shape[:2] == (128, 128)  # the original's size

    sets = manifests.read(root, "sets").column("set_id").to_pylist()
    files = Counter(r["file"] for r in manifests.read(root, "set_images").to_pylist())
    assert files == {f: len(sets) for f in ("original", *VERSIONS)}
    store = store_for(root)
    assert all(sorted(s["display_order"]) == sorted(VERSIONS) for s in store.sets())
    votes = Counter((v["set_id"], v["annotator"]) for v in store.votes())
    assert set(votes.values()) == {3}  # each proxy annotator labels the three versions of each set
    labels = manifests.read(root, "labels").to_pylist()
    assert Counter(r["set_id"] for r in labels) == {s: 3 for s in sets}

    maps = manifests.read(root, "maps").to_pylist()
    with_negative = {r["set_id"] for r in labels if r["usable"] and r["effective_label"] == "Negative"}
    assert {r["set_id"] for r in maps} == with_negative
    assert all({r["pos_version"], r["neg_version"]} <= {"original", *VERSIONS} for r in maps)

    table = open_dataset(root).sets()
    assert open_dataset(root).versions() == tuple(sorted(VERSIONS))
    assert {"zoo", "label_zoo", "votes_zoo"} <= set(table.columns) and "04" not in table.columns

    # The app's label-file writer and the parser agree on three-version files (Picture_1..4).
    from hggt.core.annotation.published import label_file_from_votes

    data = label_file_from_votes(sets[0], [{"version": v, "label": "Similar"} for v in VERSIONS], VERSIONS)
    doc = json.loads(data)
    assert [doc[f"Picture_{i}"]["File"] for i in range(1, 5)] == ["original", "01", "03", "zoo"] and "Picture_5" not in doc
    assert parse_label_file(data, sets[0]).labels == dict.fromkeys(VERSIONS, "Similar")
