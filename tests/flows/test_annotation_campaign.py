"""A running campaign: another annotator list is refused with directions, annotators and batches
join without disturbing tokens, assignments or votes, links name the configured port, and
repeated sets feed quality control without ever counting twice in the labels."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from hggt.flows.annotate import annotate_export_flow, annotate_ingest_flow
from hggt.core import manifests
from hggt.core.annotation.labels import LABELS
from hggt.tasks.annotation import store_for
from tests.flows.conftest import TINY
from tests.flows.test_annotation_stages import _copy, selected  # noqa: F401 - the module's dataset up to `select`

NAMES = ["a1", "a2", "a3"]
QC = ["annotation.repeat_share=0.5", "annotation.repeat_gap=1", "annotation.min_seconds=2"]


def test_a_running_campaign_gains_sets_and_annotators_and_refuses_another_list(selected, tmp_path):  # noqa: F811
    root = str(_copy(selected, tmp_path / "ds"))
    full = manifests.read(root, "sets")
    manifests.write(root, "sets", full.filter(pc.less_equal(full.column("rank"), 4)))
    overrides = [*TINY, f"annotation.annotators={json.dumps(NAMES)}", "annotation.batch_size=2", *QC]
    first = annotate_export_flow(out=root, preset="demo", overrides=overrides, annotators=NAMES)
    assert first["created"] and first["sets"] == 4 and first["admin_token"] and first["repeats"] == 6
    store = store_for(root)
    mine = store.queue("a1")[0]["set_id"]
    store.record("a1", mine, {"1": "Positive", "2": "Similar", "3": "Negative", "4": "Similar"}, 6.0)
    assignments, votes = store.assignments(), store.votes()

    with pytest.raises(ValueError, match=r"you named a1, a2, a4 \(new: a4\) \(missing: a3\).*hggt annotate add .*--annotators a4"):
        annotate_export_flow(out=root, preset="demo", overrides=overrides, annotators=["a1", "a2", "a4"])
    with pytest.raises(ValueError, match="a2 already take part"):
        annotate_export_flow(out=root, preset="demo", overrides=overrides, add_annotators=["a2"])

    manifests.write(root, "sets", full)  # two more sets selected since the export
    second = annotate_export_flow(out=root, preset="demo", overrides=overrides, add_annotators=["a4"])
    assert not second["created"] and second["added_sets"] == 2 and set(second["tokens"]) == {"a4"} and second["admin_token"] is None
    assert all(store.annotator_for_token(first["tokens"][n]) == n for n in NAMES)  # nobody's link changed
    now = store.assignments()
    assert all(a in now for a in assignments) and store.votes() == votes
    new = [a for a in now if a not in assignments]
    assert {a["batch"] for a in new} == {2} and set(Counter(a["set_id"] for a in new).values()) == {3}
    assert Counter(a["annotator"] for a in new)["a4"] == 2  # the least loaded go first
    assert "a4\t#token=" in (store.path.parent / "tokens.txt").read_text() and first["tokens"]["a1"] in (store.path.parent / "tokens.txt").read_text()
    assert len(manifests.read(root, "assignments")) == len(now)


def test_cli_export_names_the_configured_port_and_explains_a_different_list(selected, tmp_path):  # noqa: F811
    from hggt.cli.main import app

    root = str(_copy(selected, tmp_path / "ds"))
    run = CliRunner().invoke
    first = run(app, ["annotate", "export", "--out", root, "--preset", "demo", "--annotators", "a1,a2,a3", "--port", "9123",
                      *[x for o in TINY for x in ("--set", o)]])
    assert first.exit_code == 0, first.output
    assert first.output.count("http://127.0.0.1:9123/#token=") == 3 and "http://127.0.0.1:9123/admin#admin=" in first.output
    again = run(app, ["annotate", "export", "--out", root, "--preset", "demo", "--annotators", "a1,a2,b9", *[x for o in TINY for x in ("--set", o)]])
    assert again.exit_code == 1 and "hggt annotate add" in again.output and "b9" in again.output
    tokens = run(app, ["annotate", "tokens", "--out", root, "--admin"])
    assert tokens.exit_code == 0 and "http://127.0.0.1:9123/admin#admin=" in tokens.output and "#token=" not in tokens.output


def test_repeats_measure_self_consistency_and_never_count_twice(selected, tmp_path):  # noqa: F811
    root = str(_copy(selected, tmp_path / "ds"))
    overrides = [*TINY, f"annotation.annotators={json.dumps(NAMES)}", *QC]
    annotate_export_flow(out=root, preset="demo", overrides=overrides)
    store = store_for(root)
    for name in NAMES:
        queue = store.queue(name)
        assert sum(q["repeat"] for q in queue) == 3 and len(queue) == 9
        for i, q in enumerate(queue):
            if q["repeat"]:  # answered fast, and all Negative: a different answer than the first on some versions
                store.record(name, q["set_id"], dict.fromkeys("1234", "Negative"), 1.0)
            else:
                store.record(name, q["set_id"], {s: LABELS[(i + int(s)) % 3] for s in "1234"}, 5.0)
    summary = annotate_ingest_flow(out=root, preset="demo", overrides=overrides)
    votes = manifests.read(root, "votes").to_pylist()
    assert len(votes) == 6 * 3 * 4 and len({(v["set_id"], v["annotator"], v["version"]) for v in votes}) == len(votes)
    labels = manifests.read(root, "labels").to_pylist()
    assert len(labels) == 24 and {r["vote_count"] for r in labels} <= {1, 2, 3}
    first = {(v["annotator"], v["set_id"], v["version"]): v["label"] for v in votes}
    report = json.loads((tmp_path / "ds" / "annotation" / "agreement.json").read_text())["human"]
    assert report == summary["report"]["human"]
    quality = report["quality"]
    for name in NAMES:
        again = [v for v in store.repeat_votes() if v["annotator"] == name]
        same = sum(first[(name, v["set_id"], v["version"])] == v["label"] for v in again)
        q = quality["annotators"][name]
        assert q["repeats_answered"] == 3 and q["self_consistency"] == pytest.approx(same / 12)
        assert q["too_fast"] == 3 and q["too_fast_share"] == pytest.approx(3 / 9)
        row = next(r for r in report["annotators"] if r["annotator"] == name)
        assert row["self_consistency"] == q["self_consistency"] and row["votes"] == 24
    assert quality["min_seconds"] == 2 and quality["too_fast"] == 9 and quality["repeats_answered"] == 9
