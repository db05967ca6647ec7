"""Label files as the authors' loaders read them (by position), and where an export puts each set."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from hggt.core.annotation.export_layout import annotator_letters, mapping_csv, place_sets, range_name
from hggt.core.annotation.labels import LABELS, VERSIONS, aggregate
from hggt.core.annotation.published import LabelFileError, label_file_from_votes, parse_label_file, total_seconds
from hggt.core.splits import EXCLUDED, TEST, TRAIN

START = dt.datetime(2023, 3, 1, 10, 0, 0, tzinfo=dt.timezone.utc)


def read_by_position(data: bytes) -> dict[str, str]:
    """What the authors' PosNegGT datasets do: Picture_2..5 are 01..04, File is never looked at."""
    doc = json.loads(data)
    return {version: doc[f"Picture_{i}"]["Label"] for i, version in enumerate(VERSIONS, start=2)}


def _votes(seed: int, sets: int = 12) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(sets):
        for annotator in ("amy", "bob", "zoe"):
            # Votes arrive in the order the annotator saw the versions, not in version order.
            for version in rng.permutation(VERSIONS):
                rows.append({"set_id": f"img{s}-0-0", "version": str(version), "annotator": annotator,
                             "label": str(rng.choice(LABELS)), "started_at": START, "ended_at": START + dt.timedelta(seconds=31),
                             "seconds": 30.6})
    return rows


def test_label_files_read_by_position_give_the_labels_of_the_votes():
    votes = _votes(seed=3)
    files = {}
    for v in votes:
        files.setdefault((v["set_id"], v["annotator"]), []).append(v)
    positional = [{"set_id": s, "annotator": a, "version": version, "label": label}
                  for (s, a), vs in files.items() for version, label in read_by_position(label_file_from_votes(s, vs)).items()]
    assert aggregate(positional, 3) == aggregate(votes, 3)
    data = label_file_from_votes("img0-0-0", files[("img0-0-0", "bob")])
    doc = json.loads(data)
    assert [doc[f"Picture_{i}"]["File"] for i in range(1, 6)] == ["original", *VERSIONS]
    assert [doc[f"Picture_{i}"]["Name"] for i in range(1, 6)] == ["img0-0-0.png", *(f"img0-0-0_{v}.png" for v in VERSIONS)]
    assert parse_label_file(data, "img0-0-0").labels == read_by_position(data)  # our strict reader agrees


def test_total_is_whole_seconds_rounded_half_up():
    doc = json.loads(label_file_from_votes("img0-0-0", [v for v in _votes(1, 1) if v["annotator"] == "amy"]))
    assert doc["Time_cost"] == {"Start": "2023-03-01 10:00:00", "End": "2023-03-01 10:00:31", "Total": 31}
    assert type(doc["Time_cost"]["Total"]) is int
    assert [total_seconds(x) for x in (0.0, 0.49, 0.5, 1.5, 2.5, 42.0)] == [0, 0, 1, 2, 3, 42]
    assert total_seconds(None) is None


def test_a_label_file_needs_one_vote_per_version():
    votes = [v for v in _votes(2, 1) if v["annotator"] == "amy"]
    with pytest.raises(LabelFileError, match="needs one vote on each of 01, 02, 03, 04"):
        label_file_from_votes("img0-0-0", votes[:3])


def test_range_names_follow_the_published_first_end_convention():
    assert range_name(0, 20193, 20193) == "0-20193"  # the published Train/ folder
    assert [range_name(i, 2500) for i in (0, 999, 1000, 1999, 2000, 2499)] == [
        "0-1000", "0-1000", "1000-2000", "1000-2000", "2000-2500", "2000-2500"]
    assert [range_name(i, 5, 2) for i in range(5)] == ["0-2", "0-2", "2-4", "2-4", "4-5"]
    assert [range_name(i, 4, 2) for i in range(4)] == ["0-2", "0-2", "2-4", "2-4"]
    with pytest.raises(ValueError):
        range_name(5, 5, 2)
    with pytest.raises(ValueError):
        range_name(0, 5, 0)


def test_sets_are_placed_by_split_in_ranges_with_annotators_as_letters():
    splits = {"b-0-0": TRAIN, "a-0-0": TRAIN, "c-0-0": TRAIN, "t-0-0": TEST, "x-0-0": EXCLUDED}
    annotators = {s: ["zoe", "amy", "kim"] for s in splits}
    placed = {p.set_id: p for p in place_sets(splits, annotators, range_size=2)}
    assert set(placed) == {"a-0-0", "b-0-0", "c-0-0", "t-0-0"}  # excluded sets are in neither tree
    assert [placed[s].range for s in ("a-0-0", "b-0-0", "c-0-0", "t-0-0")] == ["0-2", "0-2", "2-3", "0-1"]
    a = placed["a-0-0"]
    assert a.annotators == {"A": "amy", "B": "kim", "C": "zoe"} and a.letter_of("zoe") == "C"
    assert a.image_relpath("original") == "Train/images/0-2/original/a-0-0.png"
    assert a.image_relpath("03") == "Train/images/0-2/03/a-0-0_03.png"
    assert placed["t-0-0"].label_relpath("B") == "Test/labels/0-1/B/t-0-0.json"
    rows = mapping_csv(placed.values()).decode().splitlines()
    assert rows[0] == "tree,range,set_id,letter,annotator" and "Test,0-1,t-0-0,C,zoe" in rows and len(rows) == 1 + 4 * 3
    with pytest.raises(ValueError, match="unknown split value"):
        place_sets({"a-0-0": "validation"}, annotators)


def test_annotator_letters_are_sorted_names():
    assert annotator_letters(["carol", "alice", "bob", "alice"]) == {"A": "alice", "B": "bob", "C": "carol"}
    assert annotator_letters(["x", "y"]) == {"A": "x", "B": "y"}


def test_the_export_warns_once_with_counts_about_sets_without_four_versions():
    from hggt.core.annotation.export_layout import versions_warning

    assert versions_warning({"a": 4, "b": 4}) is None
    warning = versions_warning({"a": 4, "b": 3, "c": 3, "d": 8})
    assert warning.startswith("3 of 4 exported sets do not have exactly 4 versions (2 with 3 versions, 1 with 8 versions): ")
    assert "the authors' loaders expect exactly 4 per set (01, 02, 03, 04)" in warning
