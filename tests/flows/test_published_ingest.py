"""A new dataset from the published HGGT layout: `hggt annotate ingest --input PUBLISHED --out NEW`,
then `split`, `maps` and `train-sr --mode posneg`, with no photos and no enhancers."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hggt.core import manifests
from hggt.core.images import encode_png

VERSIONS = ("01", "02", "03", "04")
LABELS = ("Positive", "Similar", "Negative")
# tree -> range -> sets; each set is a crop of its own photo
LAYOUT = {"Train": {"0-6": [f"tr{i:02d}-0-0" for i in range(6)], "6-12": [f"tr{i:02d}-0-0" for i in range(6, 12)]},
          "Test": {"0-3": [f"te{i}-0-0" for i in range(3)]}}
MALFORMED = "Train/labels/6-12/B/tr07-0-0.json"
MISSING = "Train/images/0-6/03/tr05-0-0_03.png"
pytestmark = pytest.mark.slow


def _name(set_id: str, f: str) -> str:
    return f"{set_id}.png" if f == "original" else f"{set_id}_{f}.png"


def _label_file(set_id: str, labels: dict[str, str], seconds: int) -> bytes:
    doc = {"Picture_1": {"Name": _name(set_id, "original"), "File": "original", "Label": None}}
    for i, v in enumerate(VERSIONS, start=2):  # Picture_2..5 = versions 01..04 by position, as published
        doc[f"Picture_{i}"] = {"Name": _name(set_id, v), "File": v, "Label": labels[v]}
    doc["Time_cost"] = {"Start": "2022-03-01 10:00:00", "End": f"2022-03-01 10:00:{seconds:02d}", "Total": seconds}
    return json.dumps(doc).encode()


def _published(root: Path) -> dict[tuple[str, str], list[str]]:
    """The layout with 64x64 PNGs and varied votes; returns (set, version) -> the three votes."""
    rng = np.random.default_rng(3)
    votes = {}
    for tree, ranges in LAYOUT.items():
        for rng_name, sets in ranges.items():
            for k, set_id in enumerate(sets):
                base = rng.integers(0, 256, (64, 64, 3)).astype(np.int16)
                for j, f in enumerate(("original", *VERSIONS)):
                    shift = 0 if f == "original" else rng.normal(0, 6 * j, base.shape)
                    path = root / tree / "images" / rng_name / f / _name(set_id, f)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(encode_png(np.clip(base + shift, 0, 255).astype(np.uint8)))
                for v in VERSIONS:  # the first sets of a range: a sure positive (01) and negative (02)
                    sure = {"01": "Positive", "02": "Negative"}.get(v) if k < 2 else None
                    votes[(set_id, v)] = [sure or str(rng.choice(LABELS)) for _ in "ABC"]
                for a, letter in enumerate("ABC"):
                    path = root / tree / "labels" / rng_name / letter / f"{set_id}.json"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(_label_file(set_id, {v: votes[(set_id, v)][a] for v in VERSIONS}, 20 + a))
    (root / MALFORMED).write_bytes(b'{"Picture_1": {"Name": "tr07-0-0.png", "File": "original", "Label": null}')
    (root / MISSING).unlink()
    return votes


def _majority(votes: list[str]) -> tuple[str, int]:
    """The paper's rule: all three differ -> Similar (1), else the most common label and its count."""
    label, count = Counter(votes).most_common(1)[0]
    return ("Similar", 1) if count == 1 else (label, count)


def _hggt(*args: str, code: int = 0) -> str:
    """`hggt ...` in this process (the session's Prefect server; no interpreter start per command)."""
    from typer.testing import CliRunner

    from hggt.cli.main import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def test_the_published_layout_becomes_a_dataset_that_trains(tmp_path):
    src, out = tmp_path / "HGGT", tmp_path / "new"
    votes = _published(src)
    text = _hggt("annotate", "ingest", "--input", str(src), "--out", str(out), "--preset", "demo")
    assert MALFORMED in text and "not JSON" in text
    assert "tr05-0-0 lacks its 03 image(s): no " + MISSING in text
    assert "Imported 14 published sets" in text and "hard-linked" in text

    root = str(out)
    broken = {"tr05-0-0", "tr07-0-0"}  # an image missing; a malformed label file (two annotators left)
    expected = {(s, v): _majority(vs) for (s, v), vs in votes.items() if s not in broken}
    labels = manifests.read(root, "labels").to_pylist()
    assert {(r["set_id"], r["version"]): (r["effective_label"], r["vote_count"]) for r in labels} == expected
    usable = {s: any(lab != "Similar" for (t, _), (lab, _) in expected.items() if t == s) for s, _ in expected}
    assert {r["set_id"]: r["usable"] for r in labels} == usable
    votes_rows = manifests.read(root, "votes").to_pylist()
    assert {r["annotator"] for r in votes_rows} == set("ABC") and {r["seconds"] for r in votes_rows} == {20.0, 21.0, 22.0}
    sets = set(manifests.read(root, "sets").column("set_id").to_pylist())
    assert sets == {s for ranges in LAYOUT.values() for ids in ranges.values() for s in ids} - {"tr05-0-0"}
    for r in manifests.read(root, "set_images").to_pylist():  # the dataset's own files, hard links to the published ones
        assert not os.path.isabs(r["uri"]) and (out / r["uri"]).is_file()
    assert os.path.samefile(out / "03" / "tr00-0-0_03.png", src / "Train/images/0-6/03/tr00-0-0_03.png")
    sources = {r["set_id"]: r for r in manifests.read(root, "set_sources").to_pylist()}
    assert sources["te1-0-0"]["side"] == "test" and sources["tr06-0-0"]["range"] == "6-12"
    assert {r["transfer"] for r in sources.values()} == {"link"}
    assert len(manifests.read(root, "patches").to_pylist()) == 14 and len(manifests.read(root, "enhanced").to_pylist()) == 56
    again = _hggt("annotate", "ingest", "--input", str(src), "--out", root, "--preset", "demo")
    assert "Imported" not in again and manifests.read(root, "labels").to_pylist() == labels  # nothing imported twice

    _hggt("split", "--out", root, "--preset", "demo")
    splits = manifests.read(root, "splits").to_pylist()
    assert {r["set_id"] for r in splits if r["split"] == "test"} == set(LAYOUT["Test"]["0-3"])
    assert {r["split"] for r in splits if r["set_id"].startswith("tr")} == {"train"}
    _hggt("maps", "--out", root, "--preset", "demo")
    assert manifests.read(root, "maps").num_rows > 0
    _hggt("train-sr", "--out", root, "--preset", "demo", "--mode", "posneg", "--init", "none", "--set", "train_sr.train.iterations=2")
    (run,) = manifests.read(root, "runs").to_pylist()
    assert run["mode"] == "posneg" and run["iterations"] == 2 and (out / run["checkpoint_uri"]).is_file()


def test_label_files_alone_cannot_create_a_dataset(tmp_path):
    folder = tmp_path / "labels" / "A"
    folder.mkdir(parents=True)
    (folder / "x-0-0.json").write_bytes(_label_file("x-0-0", dict.fromkeys(VERSIONS, "Similar"), 5))
    text = _hggt("annotate", "ingest", "--input", str(tmp_path / "labels"), "--out", str(tmp_path / "new"), code=1)
    assert f"no dataset at {tmp_path / 'new'}, and {tmp_path / 'labels'} is not the published HGGT layout" in text
    assert not (tmp_path / "new" / "manifests").exists()
