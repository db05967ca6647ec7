"""Data facts that must survive a Prefect cache miss, a recomputed artifact and a moved dataset."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import fsspec
import pytest
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

from flows.build_dataset import build_dataset_flow
from flows.select import select_flow
from flows.patches import patches_flow
from flows.annotate import annotate_export_flow
from flows.train_enhancers import train_enhancers_flow
from hggt_core import manifests, storage
from tests.flows.conftest import TINY, write_good_photos

FACTS = ("final_l1", "final_gan", "final_d_real", "final_d_fake", "seconds", "sha256", "iterations")
UNTIL = "select"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    photos = tmp_path_factory.mktemp("photos")
    write_good_photos(photos, count=2, size=(200, 260))
    root = tmp_path_factory.mktemp("ds") / "a"
    build_dataset_flow(input=str(photos), out=str(root), preset="demo", overrides=TINY, until=UNTIL)
    return photos, root


def _rows(root: str) -> dict[str, dict]:
    return {r["version"]: r for r in manifests.read(root, "enhancers").to_pylist()}


def test_enhancer_facts_survive_a_cache_miss(built, tmp_path):
    _, source = built
    root = tmp_path / "ds"
    shutil.copytree(source, root)
    before = _rows(str(root))
    with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):  # as under another PREFECT_HOME
        summary = train_enhancers_flow(out=str(root), preset="demo", overrides=TINY)
    after = _rows(str(root))
    assert summary["computed"] == 0 and summary["shards_cached"] == 4
    for version, row in before.items():
        assert all(isinstance(row[k], (int, float)) and not math.isnan(row[k]) for k in FACTS if k != "sha256")
        assert {k: after[version][k] for k in FACTS} == {k: row[k] for k in FACTS}
        # the recorded loss is the last row of the loss curve kept beside the model
        last = (root / "enhancers" / version / "losses.csv").read_text().strip().splitlines()
        header, values = last[0].split(","), last[-1].split(",")
        assert float(values[header.index("l1")]) == pytest.approx(row["final_l1"], abs=1e-6)


def test_annotation_copies_follow_a_recomputed_crop(built, tmp_path):
    _, source = built
    root = tmp_path / "ds"
    shutil.copytree(source, root)
    annotate_export_flow(out=str(root), preset="demo", overrides=TINY)
    originals = sorted((root / "annotation" / "images").glob("*/original/*.png"))
    copy = originals[0]
    uri = {r["set_id"]: r["uri"] for r in manifests.read(str(root), "set_images").to_pylist() if r["file"] == "original"}
    artifact = root / uri[copy.stem]
    good = artifact.read_bytes()
    with open(artifact, "r+b") as f:  # an in-place edit: through a hard link it reaches the copy too
        f.seek(len(good) // 2)
        f.write(bytes(64))
    later = artifact.stat().st_mtime + 5
    os.utime(artifact, (later, later))
    patches_flow(out=str(root), preset="demo", overrides=TINY)
    assert artifact.read_bytes() == good and copy.read_bytes() == good
    assert os.path.samefile(artifact, copy)
    # a copy edited on its own is re-linked by the next select as well
    copy.unlink()
    copy.write_bytes(b"x" * len(good))
    assert select_flow(out=str(root), preset="demo", overrides=TINY)["relinked"] == 1
    assert copy.read_bytes() == good


def _computed(stages: dict) -> dict[str, int]:
    # select always re-ranks (a pass over two manifests, no image work): its output is compared instead
    return {name: s.get("computed", 0) for name, s in stages.items() if name != "select"}


def test_a_moved_dataset_recomputes_nothing(built, tmp_path):
    photos, source = built
    moved = tmp_path / "moved"
    shutil.copytree(source, moved, copy_function=shutil.copy2)  # like cp -a: bytes and times
    result = build_dataset_flow(input=str(photos), out=str(moved), preset="demo", overrides=TINY, until=UNTIL)
    assert set(_computed(result["stages"]).values()) == {0}, str(_computed(result["stages"]))
    for name in ("degradations", "enhanced", "sets"):
        assert manifests.read(str(moved), name).equals(manifests.read(str(source), name))


@pytest.mark.slow
def test_a_dataset_moved_to_object_storage_recomputes_nothing(built):
    photos, source = built
    target = "memory://moved-dataset"
    fs = fsspec.filesystem("memory")
    for path in Path(source).rglob("*"):
        if path.is_file():
            fs.pipe_file(f"/moved-dataset/{path.relative_to(source).as_posix()}", path.read_bytes())
    result = build_dataset_flow(input=str(photos), out=target, preset="demo", overrides=TINY, until=UNTIL)
    assert set(_computed(result["stages"]).values()) == {0}, str(_computed(result["stages"]))
    assert manifests.read(target, "degradations").equals(manifests.read(str(source), "degradations"))
    assert storage.exists(storage.join(target, "enhancers", "01", "model.pt"))
