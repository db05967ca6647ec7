"""Group commit in the store: votes submitted together share a transaction, and one refused vote
(another annotator's set) neither blocks nor loses the others."""

from __future__ import annotations

import threading

import pytest

from hggt.core.annotation.store import Forbidden
from tests.app.conftest import make_store


def test_concurrent_votes_commit_together_and_a_refused_one_stays_alone(tmp_path):
    names = [f"a{i}" for i in range(8)]
    store, _ = make_store(tmp_path, sets=16, annotators=names, per_set=2)
    mine = {n: [q["set_id"] for q in store.queue(n)] for n in names}
    theirs = {n: next(s["set_id"] for s in store.sets() if s["set_id"] not in mine[n]) for n in names}
    start, outcome = threading.Barrier(16), {}

    def vote(name, set_id, tag):
        start.wait()
        try:
            store.record(name, set_id, dict.fromkeys("1234", "Positive"), 4.0)
            outcome[tag] = "ok"
        except Forbidden:
            outcome[tag] = "forbidden"

    threads = [threading.Thread(target=vote, args=(n, mine[n][0], (n, "own"))) for n in names]
    threads += [threading.Thread(target=vote, args=(n, theirs[n], (n, "other"))) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {outcome[(n, "own")] for n in names} == {"ok"} and {outcome[(n, "other")] for n in names} == {"forbidden"}
    votes = store.votes()
    assert sorted((v["annotator"], v["set_id"]) for v in votes[::4]) == sorted((n, mine[n][0]) for n in names)
    with pytest.raises(ValueError, match="slot 3"):
        store.record("a0", mine["a0"][1], {"1": "Positive", "2": "Similar", "3": "Good", "4": "Similar"}, 1.0)
    with pytest.raises(ValueError, match="seconds"):
        store.record("a0", mine["a0"][1], dict.fromkeys("1234", "Similar"), float("nan"))
