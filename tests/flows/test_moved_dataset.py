"""Data facts that must survive a Prefect cache miss, a recomputed artifact and a moved dataset:
its stage caches, its runs and its annotation campaign."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import fsspec
import pytest
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

from hggt.flows.build_dataset import build_dataset_flow
from hggt.flows.select import select_flow
from hggt.flows.patches import patches_flow
from hggt.flows.annotate import annotate_export_flow
from hggt.flows.train_enhancers import train_enhancers_flow
from hggt.flows.train_sr import train_sr_flow
from hggt.core import catalog, manifests, storage
from hggt.core.annotation.store import store_for
from hggt.core.dataset import open_dataset
from hggt.core.splits import assign_splits
from tests.app.conftest import Server
from tests.app.test_app import call
from tests.flows.conftest import TINY, write_good_photos
from tests.flows.test_train_sr_stage import SR_TINY

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


def _train_a_run(root: Path) -> dict:
    """A psnr run on hand-made labels (every set on the train side)."""
    versions = sorted({r["file"] for r in manifests.read(str(root), "set_images").to_pylist()} - {"original"})
    sets = manifests.read(str(root), "sets").column("set_id").to_pylist()
    rows = [{"set_id": s, "version": v, "effective_label": "Similar", "vote_count": 3, "usable": True, "source": "human"}
            for s in sets for v in versions]
    manifests.write(str(root), "labels", manifests.to_table("labels", rows))
    manifests.write(str(root), "splits", manifests.to_table("splits", assign_splits(rows, {}, 0, 0)))
    return train_sr_flow(out=str(root), arch="rrdb", mode="psnr", preset="demo", overrides=SR_TINY)


def _named_elsewhere(root: Path, old: Path) -> list[str]:
    """What the dataset stores that still names the folder it was copied from: URI columns of its
    manifests (as the dataset API resolves them) and the plain bytes of everything else it writes."""
    found = []
    ds = open_dataset(str(root))
    for name in ds.manifests():
        table = ds.table(name)
        found += [f"{name}.{col}: {u}" for col in table.columns if catalog.is_uri_column(col)
                  for u in table[col].dropna() if str(old) + "/" in u]
    for path in root.rglob("*"):
        if path.is_file() and path.suffix not in (".parquet", ".png", ".pt", ".npz", ".jpg") and str(old).encode() + b"/" in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


def test_a_copied_then_moved_dataset_serves_its_campaign_and_keeps_its_runs(built, tmp_path):
    _, source = built
    first, copy, moved = tmp_path / "first", tmp_path / "copy", tmp_path / "moved"
    shutil.copytree(source, first, copy_function=shutil.copy2)
    exported = annotate_export_flow(out=str(first), preset="demo", overrides=TINY)
    run = _train_a_run(first)
    shutil.copytree(first, copy, copy_function=shutil.copy2)  # cp -a
    os.rename(copy, moved)  # mv
    shutil.rmtree(first)
    assert _named_elsewhere(moved, first) == []

    store = store_for(str(moved))
    name, token = sorted(exported["tokens"].items())[0]
    set_id = store.queue(name)[0]["set_id"]
    order = next(s["display_order"] for s in store.sets() if s["set_id"] == set_id)
    uris = {r["file"]: r["uri"] for r in manifests.read(str(moved), "set_images").to_pylist() if r["set_id"] == set_id}
    with Server(store) as server:
        for slot, file in zip(("original", *map(str, range(1, len(order) + 1))), ("original", *order)):
            status, body, _ = call(server, f"/api/sets/{set_id}/images/{slot}", token)
            assert status == 200 and body == (moved / uris[file]).read_bytes(), slot

    row = {r["run_id"]: r for r in manifests.read(str(moved), "runs").to_pylist()}[run["run_id"]]
    assert storage.holds(str(moved / row["checkpoint_uri"]), row["sha256"])
    again = train_sr_flow(out=str(moved), arch="rrdb", mode="psnr", preset="demo", overrides=SR_TINY)
    assert again["run_id"] == run["run_id"] and manifests.read(str(moved), "runs").num_rows == 1
