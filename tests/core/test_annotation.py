"""Label aggregation, agreement, the published label format and assignment."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter

import numpy as np
import pytest

from hggt.core.annotation.agreement import dawid_skene, fleiss_kappa
from hggt.core.annotation.assignment import assign, display_order
from hggt.core.annotation.labels import LABELS, VERSIONS, aggregate, effective_label
from hggt.core.annotation.published import LabelFileError, format_label_file, image_path, label_path, parse_label_file


@pytest.mark.parametrize("votes", list(itertools.product(LABELS, repeat=3)))
def test_effective_label_of_all_27_vote_combinations(votes):
    distinct = set(votes)
    if len(distinct) == 3:
        expected = ("Similar", 1)
    elif len(distinct) == 1:
        expected = (votes[0], 3)
    else:
        majority = next(v for v in distinct if votes.count(v) == 2)
        expected = (majority, 2)
    assert effective_label(votes) == expected


def test_unknown_labels_are_refused():
    with pytest.raises(ValueError, match="unknown labels"):
        effective_label(["Positive", "Good", "Similar"])


def _votes(set_id, per_version):
    return [{"set_id": set_id, "version": v, "annotator": a, "label": lab}
            for v, labels in zip(VERSIONS, per_version) for a, lab in zip("ABC", labels)]


def test_a_set_is_usable_only_with_a_non_similar_effective_label():
    all_differ = ("Positive", "Similar", "Negative")
    similar = _votes("s1", [all_differ, ("Similar",) * 3, all_differ, ("Similar", "Similar", "Positive")])
    negative = _votes("s2", [all_differ, all_differ, all_differ, ("Negative", "Negative", "Positive")])
    rows, short = aggregate(similar + negative + _votes("s3", [("Positive",) * 2] * 4), required=3)
    usable = {r["set_id"]: r["usable"] for r in rows}
    assert usable == {"s1": False, "s2": True} and short == ["s3"]
    s2 = {r["version"]: (r["effective_label"], r["vote_count"]) for r in rows if r["set_id"] == "s2"}
    assert s2 == {"01": ("Similar", 1), "02": ("Similar", 1), "03": ("Similar", 1), "04": ("Negative", 2)}


def test_fleiss_kappa_matches_the_published_worked_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa = 0.210
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(np.array(table)) == pytest.approx(0.20993, abs=5e-5)
    assert fleiss_kappa(np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]])) == 1.0


def test_dawid_skene_learns_who_is_reliable():
    """Ten annotators from careful to careless, three random ones per item: weighting them by their
    estimated confusion matrices beats the paper's unweighted rule."""
    rng = np.random.default_rng(0)
    reliability = np.linspace(0.25, 0.95, 10)
    truth = rng.choice(LABELS, size=600)
    votes, rule_right = [], 0
    for i, t in enumerate(truth):
        labels = []
        for a in rng.choice(10, size=3, replace=False):
            label = t if rng.random() < reliability[a] else rng.choice(LABELS)
            labels.append(label)
            votes.append({"set_id": f"s{i}", "version": "01", "annotator": f"a{a}", "label": str(label)})
        rule_right += effective_label(labels)[0] == t
    ds = dawid_skene(votes)
    ds_right = sum(ds[(f"s{i}", "01")] == t for i, t in enumerate(truth))
    assert ds_right > rule_right and ds_right / len(truth) > 0.8


def _published(set_id="img-0-288", labels=None):
    labels = labels or {"01": "Positive", "02": "Similar", "03": "Negative", "04": "Positive"}
    start = dt.datetime(2023, 3, 1, 10, 0, 0)
    return format_label_file(set_id, labels, start, start + dt.timedelta(seconds=42), 42.0)


def test_published_format_round_trips():
    data = _published()
    doc = json.loads(data)
    assert doc["Picture_1"] == {"Name": "img-0-288.png", "File": "original", "Label": None}
    assert doc["Picture_2"] == {"Name": "img-0-288_01.png", "File": "01", "Label": "Positive"}
    assert doc["Time_cost"] == {"Start": "2023-03-01 10:00:00", "End": "2023-03-01 10:00:42", "Total": 42.0}
    parsed = parse_label_file(data, "img-0-288")
    assert parsed.labels == {"01": "Positive", "02": "Similar", "03": "Negative", "04": "Positive"}
    assert parsed.seconds == 42.0 and (parsed.end - parsed.start).total_seconds() == 42
    again = format_label_file("img-0-288", parsed.labels, parsed.start, parsed.end, parsed.seconds)
    assert again == data


def _mutate(fn):
    doc = json.loads(_published())
    fn(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_mutate(lambda d: d.pop("Picture_4")), "missing Picture_4"),
        (_mutate(lambda d: d["Picture_3"].update(Label="Good")), "unknown label 'Good'"),
        (_mutate(lambda d: d["Picture_3"].update(Name="other-0-0_01.png")), "does not match File"),
        (_mutate(lambda d: d["Picture_2"].update(File="../05")), "is not one of"),
        (_mutate(lambda d: d["Picture_3"].update(File="01", Name="img-0-288_01.png")), "appears twice"),
        (_mutate(lambda d: d["Picture_1"].update(Label="Positive")), "original must have Label null"),
        (_mutate(lambda d: d["Time_cost"].update(Start="yesterday")), "malformed Time_cost"),
        (_mutate(lambda d: d.update(Picture_5="x")), "must be an object"),
    ],
    ids=["not-json", "not-object", "missing-picture", "unknown-label", "name-mismatch", "bad-file", "duplicate-file",
         "labelled-original", "bad-time", "picture-not-object"],
)
def test_malformed_label_files_say_why(data, reason):
    with pytest.raises(LabelFileError, match=reason):
        parse_label_file(data, "img-0-288")


def test_layout_paths_are_recognised():
    assert label_path("labels/alice/img-0-0.json").annotator == "alice"
    p = label_path("HGGT/labels/00001-01000/B/img-0-0.json")
    assert (p.annotator, p.set_id) == ("B", "img-0-0")
    assert label_path("labels/img.json") is None
    assert image_path("images/00001-01000/02/img-0-0_02.png") == ("img-0-0", "02")
    assert image_path("images/r/original/img-0-0.png") == ("img-0-0", "original")
    assert image_path("annotation/images/0000/original/img-0-0.png") is None
    assert image_path("images/r/02/img-0-0_03.png") is None


@pytest.mark.parametrize("sets, annotators, per_set", [(100, 5, 3), (37, 3, 3), (1001, 7, 2), (10, 4, 4)])
def test_assignment_is_balanced_distinct_and_batched(sets, annotators, per_set):
    ids = [f"s{i}" for i in range(sets)]
    names = [f"a{i}" for i in range(annotators)]
    rows = assign(ids, names, per_set, batch_size=250, seed=1)
    by_set = Counter(r["set_id"] for r in rows)
    assert set(by_set) == set(ids) and set(by_set.values()) == {per_set}
    assert all(len({r["annotator"] for r in rows if r["set_id"] == s}) == per_set for s in ids[:50])
    loads = Counter(r["annotator"] for r in rows)
    assert max(loads.values()) - min(loads.values()) <= 1
    assert Counter(r["batch"] for r in rows if r["annotator"] == names[0]) and max(r["batch"] for r in rows) == (sets - 1) // 250
    assert rows == assign(ids, names, per_set, 250, seed=1) and rows != assign(ids, names, per_set, 250, seed=2)


def test_too_few_annotators_are_refused():
    with pytest.raises(ValueError, match="3 different annotators"):
        assign(["s"], ["a", "b"], 3, 10, 0)


def test_display_order_is_a_seeded_permutation():
    orders = [tuple(display_order(f"s{i}", 0)) for i in range(200)]
    assert all(sorted(o) == list(VERSIONS) for o in orders)
    assert len(set(orders)) > 15 and orders[0] == tuple(display_order("s0", 0))
