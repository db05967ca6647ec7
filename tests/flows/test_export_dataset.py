"""`export-dataset`: the published layout by split, idempotent re-runs, and the round trip through
`annotate ingest` back to the same labels.parquet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hggt.flows.annotate import annotate_ingest_flow
from hggt.flows.export_dataset import export_dataset_flow
from hggt.cli.main import app
from hggt.core import manifests
from hggt.core.annotation.labels import LABELS, VERSIONS, aggregate
from hggt.core.images import encode_png
from hggt.core.splits import EXCLUDED, TEST, TRAIN

FILES = ("original", *VERSIONS)
# Set -> (split, its annotators); photoE is labelled after the split was made.
SETS = {
    "photoA-0-0": (TRAIN, ("zoe", "amy", "bob")), "photoA-0-288": (TRAIN, ("kim", "bob", "amy")),
    "photoC-0-0": (TRAIN, ("zoe", "kim", "bob")), "photoD-0-0": (TRAIN, ("amy", "kim", "zoe")),
    "photoB-0-0": (TEST, ("bob", "zoe", "kim")), "photoB-288-0": (EXCLUDED, ("amy", "bob", "zoe")),
    "photoE-0-0": (None, ("amy", "bob", "kim")),
}


def _label_doc(set_id: str, labels: dict[str, str], order: list[str]) -> bytes:
    """A label file as another tool might write it: the versions in display order, fractional Total."""
    doc = {"Picture_1": {"Name": f"{set_id}.png", "File": "original", "Label": None}}
    for i, v in enumerate(order, start=2):
        doc[f"Picture_{i}"] = {"Name": f"{set_id}_{v}.png", "File": v, "Label": labels[v]}
    doc["Time_cost"] = {"Start": "2023-05-01 09:00:00", "End": "2023-05-01 09:00:31", "Total": 30.6}
    return json.dumps(doc).encode()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    """A dataset whose sets and votes come from label files, with splits.parquet written by hand."""
    src, root = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("ds")
    rng = np.random.default_rng(7)
    for k, (set_id, (_, annotators)) in enumerate(SETS.items()):
        for f in FILES:
            name = f"{set_id}.png" if f == "original" else f"{set_id}_{f}.png"
            path = src / "images" / "0-7" / f / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_png(np.full((8, 8, 3), 10 * k + FILES.index(f), np.uint8)))
        for annotator in annotators:
            path = src / "labels" / "0-7" / annotator / f"{set_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            labels = {v: str(rng.choice(LABELS)) for v in VERSIONS}
            path.write_bytes(_label_doc(set_id, labels, [str(v) for v in rng.permutation(VERSIONS)]))
    annotate_ingest_flow(out=str(root), labels=str(src), preset="demo")
    assert len(manifests.read(str(root), "labels").to_pylist()) == 4 * len(SETS)
    rows = [{"set_id": s, "image_id": s.rsplit("-", 2)[0], "split": split, "positives": 0, "usable": True}
            for s, (split, _) in SETS.items() if split]
    manifests.write(str(root), "splits", manifests.to_table("splits", rows))
    (root / "02" / "photoD-0-0_02.png").unlink()  # a set whose image went missing (the dataset's own link to it)
    return root


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_writes_the_published_layout_by_split_and_reingests_to_the_same_labels(labelled, tmp_path):
    dest = tmp_path / "HGGT"
    summary = export_dataset_flow(out=str(labelled), dest=str(dest), range_size=2)
    assert (summary["train_sets"], summary["test_sets"], summary["excluded_sets"], summary["rejected"]) == (3, 1, 1, 2)
    reasons = dict(summary["reasons"])
    assert "not in splits.parquet; re-run `hggt split`" in reasons["photoE-0-0"]
    assert "image missing" in reasons["photoD-0-0"] and "photoD-0-0_02.png" in reasons["photoD-0-0"]
    assert {r["item_id"] for r in manifests.read(str(labelled), "rejected").to_pylist() if r["stage"] == "export-dataset"} == {
        "photoE-0-0", "photoD-0-0"}
    files = _tree(dest)
    # Train: photoA-0-0, photoA-0-288 | photoC-0-0 (photoD-0-0 failed); Test: photoB-0-0; ranges of 2.
    placed = {"photoA-0-0": "Train/{}/0-2", "photoA-0-288": "Train/{}/0-2", "photoC-0-0": "Train/{}/2-4", "photoB-0-0": "Test/{}/0-1"}
    expected = {"annotators.csv"}
    for set_id, where in placed.items():
        expected |= {f"{where.format('images')}/{f}/{set_id}{'' if f == 'original' else '_' + f}.png" for f in FILES}
        expected |= {f"{where.format('labels')}/{letter}/{set_id}.json" for letter in "ABC"}
    assert set(files) == expected
    assert files["Test/images/0-1/03/photoB-0-0_03.png"] == (labelled / "03" / "photoB-0-0_03.png").read_bytes()
    mapping = files["annotators.csv"].decode().splitlines()
    assert "Train,0-2,photoA-0-0,A,amy" in mapping and "Train,0-2,photoA-0-0,C,zoe" in mapping and len(mapping) == 1 + 4 * 3

    # The label files, read by position as the authors' loaders do, give labels.parquet.
    votes = []
    for rel, data in files.items():
        if "/labels/" in rel:
            doc = json.loads(data)
            assert [doc[f"Picture_{i}"]["File"] for i in range(1, 6)] == list(FILES) and doc["Time_cost"]["Total"] == 31
            votes += [{"set_id": rel.split("/")[-1][:-5], "version": v, "annotator": rel.split("/")[-2], "label": doc[f"Picture_{i}"]["Label"]}
                      for i, v in enumerate(VERSIONS, start=2)]
    exported = [{k: r[k] for k in ("set_id", "version", "effective_label", "vote_count", "usable")}
                for r in manifests.read(str(labelled), "labels").to_pylist() if r["set_id"] in placed]
    assert aggregate(votes, 3)[0] == exported

    assert summary["versions_warning"] is None  # every set has the four versions the authors' loaders read
    again = export_dataset_flow(out=str(labelled), dest=str(dest), range_size=2)
    assert again["files_written"] == 0 and again["files_unchanged"] == len(files) and _tree(dest) == files

    back = tmp_path / "ds2"
    reingested = annotate_ingest_flow(out=str(back), labels=str(dest), preset="demo")
    assert reingested["ingest_rejected"] == 0
    original = manifests.read(str(labelled), "labels").to_pylist()
    assert manifests.read(str(back), "labels").to_pylist() == [r for r in original if r["set_id"] in placed]


def test_sets_of_other_than_four_versions_are_warned_about_once_with_counts(tmp_path):
    src, root = tmp_path / "src", tmp_path / "ds"
    versions = dict.fromkeys(("photoA-0-0", "photoB-0-0", "photoC-0-0"), ("01", "02", "zoo"))  # a dataset's versions are one set
    for k, (set_id, mine) in enumerate(versions.items()):
        for f in ("original", *mine):
            path = src / "images" / "0-3" / f / (f"{set_id}.png" if f == "original" else f"{set_id}_{f}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_png(np.full((8, 8, 3), 10 * k + len(f), np.uint8)))
        for annotator in ("amy", "bob", "kim"):
            path = src / "labels" / "0-3" / annotator / f"{set_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_label_doc(set_id, dict.fromkeys(mine, "Similar"), list(mine)))
    annotate_ingest_flow(out=str(root), labels=str(src), preset="demo")
    rows = [{"set_id": s, "image_id": s.rsplit("-", 2)[0], "split": TRAIN, "positives": 0, "usable": True} for s in versions]
    manifests.write(str(root), "splits", manifests.to_table("splits", rows))
    summary = export_dataset_flow(out=str(root), dest=str(tmp_path / "HGGT"))
    assert summary["train_sets"] == 3 and summary["versions_warning"] == (
        "3 of 3 exported sets do not have exactly 4 versions (3 with 3 versions): the authors' loaders "
        "expect exactly 4 per set (01, 02, 03, 04), so their training and metric scripts need changing to read these sets")


def test_export_without_a_split_says_to_run_hggt_split(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    with pytest.raises(FileNotFoundError, match="run `hggt split --out"):
        export_dataset_flow(out=str(root), dest=str(tmp_path / "HGGT"))


def test_cli_command_is_listed_with_its_options():
    result = CliRunner().invoke(app, ["export-dataset", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--out", "--dest", "--range-size"):
        assert option in result.output
