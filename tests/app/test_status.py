"""The coordinator's figures on a hand-made campaign, checked against numbers worked out by hand:
Fleiss' kappa, agreement with the majority, median time, too-fast answers, self-consistency on a
repeated set (which must not count in the labels), batch completion; the same through the admin
API and `hggt annotate status`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hggt.core.annotation.status import campaign_status
from hggt.core.annotation.store import AnnotationStore
from tests.app.conftest import Server
from tests.app.test_app import call

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
# Votes of annotators a, b, c on the versions of S1 and S2 (P/S/N), with the per-item counts of
# the hand computation: P_i = 1, 1/3, 1/3, 1, 0, 1, 1/3, 1 -> P_bar = 5/8; category shares
# 10/24, 7/24, 7/24 -> P_e = 198/576 = 11/32; kappa = (5/8 - 11/32) / (1 - 11/32) = 9/21 = 3/7.
PLAN = {
    ("S1", "01"): "PPP", ("S1", "02"): "PPS", ("S1", "03"): "SSN", ("S1", "04"): "NNN",
    ("S2", "01"): "PSN", ("S2", "02"): "SSS", ("S2", "03"): "NNP", ("S2", "04"): "PPP",
}
SECONDS = {("a", "S1"): 2.0, ("a", "S2"): 10.0, ("a", "S3"): 1.0, ("b", "S1"): 5.0, ("b", "S2"): 7.0, ("c", "S1"): 4.0, ("c", "S2"): 20.0}
NAMES = {"P": "Positive", "S": "Similar", "N": "Negative"}


@pytest.fixture
def campaign(tmp_path):
    images = {f: str(tmp_path / f"{f}.png") for f in ("original", "01", "02", "03", "04")}
    sets = [{"set_id": s, "display_order": ["01", "02", "03", "04"], "images": images} for s in ("S1", "S2", "S3")]
    assignments = [{"set_id": s, "annotator": n, "batch": 0 if s != "S3" else 1, "position": i}
                   for i, s in enumerate(("S1", "S2", "S3")) for n in "abc"]
    repeat = {"key": "c-again", "set_id": "S1", "annotator": "c", "batch": 1, "position": 2.5, "display_order": ["04", "03", "02", "01"]}
    store = AnnotationStore(tmp_path / "annotation" / "votes.sqlite")
    store.create(sets, assignments, [repeat], {"min_seconds": 3.0})
    rows = []
    for (set_id, version), votes in PLAN.items():
        for name, label in zip("abc", votes):
            ended = T0 + 60 * list(SECONDS).index((name, set_id))
            rows.append({"set_id": set_id, "annotator": name, "version": version, "label": NAMES[label], "source": "app",
                         "seconds": SECONDS[(name, set_id)], "ended_at": ended, "started_at": ended - SECONDS[(name, set_id)]})
    rows += [{"set_id": "S3", "annotator": "a", "version": v, "label": "Similar", "source": "app", "seconds": 1.0,
              "ended_at": T0 + 120, "started_at": T0 + 119} for v in ("01", "02", "03", "04")]
    store.record_versions(rows)
    # c's repeat of S1 (versions shown 04, 03, 02, 01): N, S, S, P against N, N, S, P the first time -> 3 of 4 the same.
    store.record("c", "c-again", {"1": "Negative", "2": "Similar", "3": "Similar", "4": "Positive"}, 1.5)
    return store


def test_revisions_are_counted_per_annotator(campaign):
    campaign.record("c", "c-again", {"1": "Negative", "2": "Negative", "3": "Similar", "4": "Positive"}, 2.0, revise=True)
    campaign.record("c", "c-again", {"1": "Negative", "2": "Similar", "3": "Similar", "4": "Positive"}, 2.0, revise=True)
    assert campaign.revised_sets() == {"c": 1}  # one set, twice revised
    assert {r["annotator"]: r["revised_sets"] for r in campaign_status(campaign)["annotators"]} == {"a": 0, "b": 0, "c": 1}


def test_status_numbers_match_the_hand_computation(campaign):
    s = campaign_status(campaign)
    assert s["fleiss_kappa"] == pytest.approx(3 / 7) and s["kappa_items"] == 8
    assert (s["sets"], s["finished_sets"], s["annotators_per_set"]) == (3, 2, 3)
    rows = {r["annotator"]: r for r in s["annotators"]}
    assert [(rows[n]["done"], rows[n]["assigned"]) for n in "abc"] == [(3, 3), (2, 3), (3, 4)]
    # Effective labels with a majority on 7 items (S2-01 is a three-way tie): a and b agree on all, c on 4.
    assert [rows[n]["agreement_with_majority"] for n in "abc"] == [pytest.approx(1.0), pytest.approx(1.0), pytest.approx(4 / 7)]
    assert [rows[n]["median_seconds_per_set"] for n in "abc"] == [2.0, 6.0, 12.0]
    assert [(rows[n]["too_fast"], rows[n]["too_fast_share"]) for n in "abc"] == [(2, pytest.approx(2 / 3)), (0, 0.0), (1, pytest.approx(1 / 3))]
    assert rows["c"]["self_consistency"] == pytest.approx(0.75) and rows["c"]["repeats_answered"] == 1 and rows["c"]["repeats_assigned"] == 1
    assert rows["a"]["self_consistency"] is None and rows["a"]["repeats_assigned"] == 0
    assert rows["a"]["last_activity"] == "2023-11-14T22:15:20+00:00" and rows["b"]["last_activity"] == "2023-11-14T22:17:20+00:00"
    assert s["batches"] == [{"batch": 0, "sets": 2, "finished": 2, "completion": 1.0}, {"batch": 1, "sets": 1, "finished": 0, "completion": 0.0}]
    assert s["answers_done"] == 8 and s["answers_assigned"] == 10
    # Against the others only: c matches a and b where they agree on 4 of 7 versions (S1-01, S1-04,
    # S2-02, S2-04, not S1-02, S1-03, S2-03); a and b match the others wherever those agree (4 of 4).
    assert [(rows[n]["agreement_with_others"], rows[n]["agreement_compared"]) for n in "abc"] == [(1.0, 4), (1.0, 4), (pytest.approx(4 / 7), 7)]
    assert (rows["c"]["repeat_consistency"], rows["c"]["repeat_versions"]) == (0.75, 4)
    # 4 of 7 is no evidence against c; a and c answer too fast; b (2/3 done) is not behind the median (3/4) by a quarter
    assert rows["a"]["flags"] == ["67% of answers faster than the minimum time"] and rows["b"]["flags"] == []
    assert rows["c"]["flags"] == ["33% of answers faster than the minimum time"] and s["flagged"] == ["a", "c"]


def test_a_repeat_never_counts_twice(campaign):
    votes = campaign.votes()
    assert len(votes) == 8 * 3 + 4  # the repeat's four votes are kept apart
    c_s1 = {v["version"]: v["label"] for v in votes if v["annotator"] == "c" and v["set_id"] == "S1"}
    assert c_s1 == {"01": "Positive", "02": "Similar", "03": "Negative", "04": "Negative"}  # the first answer stands
    again = {v["version"]: v["label"] for v in campaign.repeat_votes()}
    assert again == {"04": "Negative", "03": "Similar", "02": "Similar", "01": "Positive"}
    queue = campaign.queue("c")
    assert [q["set_id"] for q in queue] == ["S1", "S2", "S3", "c-again"] and [q["done"] for q in queue] == [True, True, False, True]


def test_admin_api_and_cli_show_the_same_figures(campaign, tmp_path):
    from hggt.cli.main import app

    admin = campaign.issue_admin_token()
    with Server(campaign) as server:
        status, body, _ = call(server, "/api/admin/status", admin)
    assert status == 200 and json.loads(body)["fleiss_kappa"] == pytest.approx(3 / 7)
    result = CliRunner().invoke(app, ["annotate", "status", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert {r["annotator"]: r["done"] for r in printed["annotators"]} == {"a": 3, "b": 2, "c": 3}
    table = CliRunner().invoke(app, ["annotate", "status", "--out", str(tmp_path)])
    assert table.exit_code == 0 and "0.429" in table.output and "57%" in table.output
    assert "a: 67% of answers faster than the minimum time" in " ".join(table.output.split())
    assert json.loads(body)["flagged"] == printed["flagged"] == ["a", "c"]
