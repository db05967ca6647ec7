"""The dataset as a library: open_dataset on a local and a memory:// dataset (tables and
.sets() against the Parquet files read independently), HGGTTrainSet's items per mode against the
image files, and train-sr's batches against the class's stream for the same seed."""

from __future__ import annotations

import io
import pickle
import shutil
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, default_collate

from hggt.flows.maps import maps_flow
from hggt.core import storage
from hggt.core.presets import config_from_options
from hggt.core.dataset import open_dataset
from hggt.core.degradation.settings import RECORD_COLUMNS, DegradationRecord
from hggt.core.manifests import ManifestError
from hggt.core.maps import indication_map
from hggt.core.torchdata import MODES, HGGTTrainSet, make_lq, records
from hggt.core.sr_runs import sr_batches
from hggt.tasks.train_sr import plan_sr

VERSIONS = ("01", "02", "03", "04")


@pytest.fixture(scope="module")
def mapped(labelled, tmp_path_factory):
    """The labelled dataset with its indication maps (two sets have a negative)."""
    src, sets = labelled
    root = tmp_path_factory.mktemp("lib") / "ds"
    shutil.copytree(src, root)
    maps_flow(out=str(root), preset="demo")
    return root, sets


@pytest.fixture(params=["local", "memory"])
def dataset(request, mapped):
    """(URL the dataset is opened at, local folder with the same files)."""
    local, _ = mapped
    if request.param == "local":
        return str(local), local
    fs, base = fsspec.filesystem("memory"), f"/lib-{uuid.uuid4().hex}"
    for f in local.rglob("*"):
        if f.is_file():
            fs.pipe_file(f"{base}/{f.relative_to(local).as_posix()}", f.read_bytes())
    return f"memory://{base}", local


def _parquet(local: Path, name: str) -> pd.DataFrame:
    """The manifest read directly; string columns keep None for nulls under pandas 2 and 3 alike
    (pandas 3's string dtype would give NaN)."""
    df = pq.read_table(local / "manifests" / f"{name}.parquet").to_pandas()
    for column in df.columns:
        if isinstance(df[column].dtype, pd.StringDtype):
            df[column] = pd.Series([None if pd.isna(v) else v for v in df[column]], index=df.index, dtype=object)
    return df


def test_tables_resolve_every_uri_column(dataset):
    url, local = dataset
    ds = open_dataset(url)
    assert {"sets", "set_images", "labels", "splits", "maps"} <= set(ds.manifests()) and "runs" not in ds.manifests()
    labels = ds.table("labels")
    raw_labels = _parquet(local, "labels")
    assert list(labels.columns) == list(raw_labels.columns) and labels.to_dict("list") == raw_labels.to_dict("list")
    assert labels["vote_count"].dtype == "Int32" and labels["usable"].dtype == "boolean"
    raw = _parquet(local, "maps")
    maps = ds.table("maps")
    for column in ("uri", "figure_uri"):
        for got, rel in zip(maps[column], raw[column]):
            assert (got is None) == (rel is None)
            if rel is not None:
                assert got == storage.join(storage.normalize_root(url), rel) and got.startswith(url.split("//")[0])
                assert storage.read_bytes(got) == (local / rel).read_bytes()
    images = ds.table("set_images")
    assert all(storage.read_bytes(u) == (local / r).read_bytes() for u, r in zip(images["uri"], _parquet(local, "set_images")["uri"]))
    with pytest.raises(ManifestError, match="run `hggt train-sr` first"):
        ds.table("runs")
    with pytest.raises(ManifestError, match="unknown manifest"):
        ds.table("run")


def test_sets_join_images_labels_split_and_maps(dataset):
    url, local = dataset
    got = open_dataset(url).sets().set_index("set_id")
    sets, images, labels = _parquet(local, "sets"), _parquet(local, "set_images"), _parquet(local, "labels")
    splits, maps = _parquet(local, "splits").set_index("set_id"), _parquet(local, "maps")
    assert sorted(got.index) == sorted(sets["set_id"]) and len(got) == 4
    root = storage.normalize_root(url)
    for s in sets.itertuples():
        row = got.loc[s.set_id]
        assert row["patch_id"] == s.patch_id and row["rank"] == s.rank and row["split"] == splits.loc[s.set_id, "split"]
        assert row["image_id"] == splits.loc[s.set_id, "image_id"]
        for im in images[images["set_id"] == s.set_id].itertuples():
            assert row[im.file] == storage.join(root, im.uri)
        own = labels[labels["set_id"] == s.set_id].set_index("version")
        for v in VERSIONS:
            assert row[f"label_{v}"] == own.loc[v, "effective_label"] and row[f"votes_{v}"] == own.loc[v, "vote_count"]
        assert row["positives"] == [v for v in VERSIONS if own.loc[v, "effective_label"] == "Positive"]
        assert row["negatives"] == [v for v in VERSIONS if own.loc[v, "effective_label"] == "Negative"]
        assert bool(row["usable"]) == bool(own["usable"].any()) and row["label_source"] == "human"
        mine = maps[maps["set_id"] == s.set_id].sort_values(["pos_version", "neg_version"])
        assert row["maps"] == [storage.join(root, u) for u in mine["uri"]]
        assert row["map_pairs"] == list(zip(mine["pos_version"], mine["neg_version"]))
        figures = [storage.join(root, u) for u in mine["figure_uri"] if u is not None]
        assert row["map_figure"] == figures[0] if figures else pd.isna(row["map_figure"])  # None, or NaN under pandas 3
    assert got["votes_01"].dtype == "Int64" and str(got["usable"].dtype) == "boolean"


def test_a_dataset_before_annotation_has_empty_label_columns(labelled, tmp_path):
    src, _ = labelled
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    for name in ("labels", "splits"):
        (root / "manifests" / f"{name}.parquet").unlink()
    got = open_dataset(str(root)).sets()
    assert len(got) == 4 and got["label_01"].isna().all() and got["split"].isna().all() and got["maps"].isna().all()
    assert got["original"].map(lambda u: Path(u).is_file()).all()
    with pytest.raises(FileNotFoundError, match="no hggt manifests"):
        open_dataset(str(tmp_path / "empty"))


def _crop(url: str, top: int, left: int, size: int, hflip: bool) -> np.ndarray:
    img = np.asarray(Image.open(io.BytesIO(storage.read_bytes(url))).convert("RGB"))
    crop = img[top : top + size, left : left + size]
    return crop[:, ::-1] if hflip else crop


def _u8(t: torch.Tensor) -> np.ndarray:
    return (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.mark.parametrize("mode", MODES)
def test_items_are_crops_of_the_drawn_versions(mapped, mode):
    root, _ = mapped
    ds, table = HGGTTrainSet(str(root), mode, gt_size=32, seed=3), open_dataset(str(root)).sets().set_index("set_id")
    # the fourth set is not usable; pos trains only on the two with a positive (the authors' PosNegGTPosDataset)
    assert len(ds) == {"psnr": 4, "ori": 4, "pos": 2, "posneg": 3}[mode]
    seen = set()
    for i in range(len(ds)):
        item = ds[i]
        row = table.loc[item["set_id"]]
        assert item["gt"].shape == item["ori"].shape == (3, 32, 32) and item["gt"].dtype == torch.float32
        assert set(item["record"]) == {name for name, _ in RECORD_COLUMNS}
        place = (item["top"], item["left"], 32, item["hflip"])
        assert np.array_equal(_u8(item["ori"]), _crop(row["original"], *place))
        assert np.array_equal(_u8(item["gt"]), _crop(row[item["gt_version"]], *place))
        if mode in ("psnr", "ori"):
            assert item["gt_version"] == "original" and "neg" not in item
        elif mode == "pos":
            assert item["gt_version"] in row["positives"]
        else:
            assert item["gt_version"] in (row["positives"] or ["original"])
        seen.add(item["gt_version"])
        if mode != "posneg":
            continue
        assert item["neg"].shape == (3, 32, 32) and item["map"].shape == (1, 32, 32)
        if not row["negatives"]:
            assert item["has_neg"] == 0.0 and not item["map"].any() and not item["neg"].any()
            continue
        assert item["neg_version"] in row["negatives"] and item["map_pos_version"] in (row["positives"] or ["original"])
        assert np.array_equal(_u8(item["neg"]), _crop(row[item["neg_version"]], *place))
        f32 = lambda v: _crop(row[v], *place).astype(np.float32) / 255  # noqa: E731
        pos = item["map_pos_version"]
        votes = lambda v: 0 if v == "original" else int(row[f"votes_{v}"])  # noqa: E731
        want = indication_map(f32("original"), None if pos == "original" else f32(pos), f32(item["neg_version"]), votes(pos),
                              votes(item["neg_version"]), ds.ksize)[2]
        np.testing.assert_allclose(item["map"][0].numpy(), want, rtol=1e-4, atol=1e-6)
    if mode in ("pos", "posneg"):
        assert seen != {"original"}


def test_items_depend_on_seed_epoch_and_index_only(mapped):
    root, _ = mapped
    a, b = HGGTTrainSet(str(root), "posneg", gt_size=32, seed=5), HGGTTrainSet(str(root), "posneg", gt_size=32, seed=5)
    forward, backward = [a[i] for i in range(len(a))], [b[i] for i in reversed(range(len(b)))][::-1]
    for x, y in zip(forward, backward):
        assert torch.equal(x["gt"], y["gt"]) and torch.equal(x["map"], y["map"]) and x["record"] == y["record"]
    a.set_epoch(1)
    assert any((a[i]["top"], a[i]["left"], a[i]["record"]) != (f["top"], f["left"], f["record"]) for i, f in enumerate(forward))
    batch = next(iter(DataLoader(b, batch_size=3, shuffle=False, num_workers=0)))
    assert batch["gt"].shape == (3, 3, 32, 32) and batch["map"].shape == (3, 1, 32, 32)
    assert records(batch["record"]) == [DegradationRecord.from_row(f["record"]) for f in forward]
    assert make_lq(batch).shape == (3, 3, 8, 8)
    again = pickle.loads(pickle.dumps(b))  # DataLoader workers started by spawn (macOS, Windows) pickle the dataset
    assert torch.equal(again[1]["gt"], forward[1]["gt"])


@pytest.mark.parametrize("mode", ["pos", "posneg"])
def test_train_sr_batches_are_the_class_stream_for_the_same_seed(mapped, mode):
    root, _ = mapped
    # hggt's per-sample synthesis: the records of the class's items (the authors' batch synthesis draws per batch)
    cfg = config_from_options("demo", ["train_sr.train.gt_size=32", "train_sr.train.image_buffer=2", "train_sr.train.refresh_every=1",
                                       "train_sr.synthesis=sample"])
    sets, images, _, _ = plan_sr.fn(storage.normalize_root(str(root)), mode)
    train_sr = sr_batches(sets, images, mode, "rrdb", cfg, torch.device("cpu"), seed=11)
    ds = HGGTTrainSet(str(root), mode, gt_size=32, settings=cfg.degrade.table_2, map_positive=cfg.train_sr.map_positive,
                      ksize=cfg.maps.ksize)
    stream = ds.stream(11, buffer=2, refresh_every=1)
    for _ in range(3):  # the buffer refreshes a slot every batch
        ours = train_sr.next_batch(4)
        batch = default_collate([ds.to_item(s) for s in stream.next(4)])
        assert torch.equal(ours[0], make_lq(batch)) and torch.equal(ours[1], batch["gt"])
        if mode == "posneg":
            assert torch.equal(ours[2], batch["neg"]) and torch.equal(ours[4], batch["has_neg"].float())
            torch.testing.assert_close(ours[3], batch["map"], rtol=0, atol=1e-6)


def test_the_class_uses_the_degradations_the_dataset_was_built_with(mapped, tmp_path):
    """HGGTTrainSet(root, mode) without settings: the recorded build's Table 2, map positive and
    window, as train-sr on that dataset uses them (here a build with gray noise 0.1 and ksize 5)."""
    import json

    local, _ = mapped
    root = tmp_path / "ds"
    shutil.copytree(local, root)
    record = json.loads((root / "build.json").read_text())
    assert record["preset"] == "demo"
    record["overrides"] = {**record["overrides"], "degrade": {"table_2": {"gray_noise_probability": 0.1}}, "maps": {"ksize": 5},
                           "train_sr": {"map_positive": "target"}}
    (root / "build.json").write_text(json.dumps(record))
    ds = HGGTTrainSet(str(root), "posneg", gt_size=32)
    assert ds.settings.gray_noise_probability == 0.1 and ds.ksize == 5 and ds.map_positive == "target"
    assert HGGTTrainSet(str(root), "posneg", gt_size=32, ksize=3).ksize == 3  # what the caller names wins
