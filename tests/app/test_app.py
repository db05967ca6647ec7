"""The annotation app over HTTP: tokens, ownership, traversal, origin checks, concurrency."""

from __future__ import annotations

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from collections import Counter

import pytest

from hggt.core.annotation.labels import LABELS
from tests.app.conftest import Server, make_store


def call(server, path, token=None, method="GET", body=None, headers=None, raw=None):
    data = json.dumps(body).encode() if body is not None else raw
    req = urllib.request.Request(server.url + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def _mine(server, token):
    status, body, _ = call(server, "/api/me", token)
    assert status == 200
    return json.loads(body)


def test_missing_or_wrong_tokens_get_401(app_server):
    server, _, tokens = app_server
    assert call(server, "/api/me")[0] == 401
    assert call(server, "/api/me", "not-a-token")[0] == 401
    set_id = _mine(server, tokens["alice"])["queue"][0]["set_id"]
    assert call(server, f"/api/sets/{set_id}/images/original", "wrong")[0] == 401
    assert call(server, f"/api/sets/{set_id}/votes", "wrong", "POST", {"labels": {}, "seconds": 1})[0] == 401


def test_annotators_see_only_their_own_sets(app_server):
    server, store, tokens = app_server
    alice = {q["set_id"] for q in _mine(server, tokens["alice"])["queue"]}
    bob = {q["set_id"] for q in _mine(server, tokens["bob"])["queue"]}
    others = [s["set_id"] for s in store.sets() if s["set_id"] not in alice]
    assert others and len(alice) == 4 and len(bob) == 4
    theirs = others[0]
    assert call(server, f"/api/sets/{theirs}", tokens["alice"])[0] == 403
    assert call(server, f"/api/sets/{theirs}/images/1", tokens["alice"])[0] == 403
    labels = {s: "Similar" for s in "1234"}
    assert call(server, f"/api/sets/{theirs}/votes", tokens["alice"], "POST", {"labels": labels, "seconds": 3})[0] == 403
    assert not [v for v in store.votes() if v["annotator"] == "alice"]


def test_images_are_addressed_by_set_and_slot_only(app_server):
    server, _, tokens = app_server
    token = tokens["alice"]
    set_id = _mine(server, token)["queue"][0]["set_id"]
    status, body, headers = call(server, f"/api/sets/{set_id}/images/2", token)
    assert status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n" and headers["Content-Type"] == "image/png"
    for path in [
        "/api/sets/..%2F..%2Fetc%2Fpasswd/images/original",
        f"/api/sets/{set_id}/images/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/api/sets/{set_id}/images/5",
        "/api/sets/%2Fetc%2Fpasswd/images/1",
        "/static/..%2Fserver.py",
        "/static/%2E%2E/server.py",
        "/api/sets/../../etc/passwd/images/1",
    ]:
        assert call(server, path, token)[0] == 404, path


def test_state_changes_need_json_from_the_same_origin(app_server):
    server, store, tokens = app_server
    token = tokens["alice"]
    set_id = _mine(server, token)["queue"][0]["set_id"]
    labels = {s: "Positive" for s in "1234"}
    status, _, _ = call(server, f"/api/sets/{set_id}/votes", token, "POST", {"labels": labels, "seconds": 2},
                        headers={"Origin": "http://evil.example"})
    assert status == 403
    req = urllib.request.Request(f"{server.url}/api/sets/{set_id}/votes", data=b"labels=x", method="POST")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 415
    assert not store.votes()
    same = {"Origin": server.url}
    assert call(server, f"/api/sets/{set_id}/votes", token, "POST", {"labels": labels, "seconds": 2}, headers=same)[0] == 200


def test_a_set_needs_a_valid_label_for_all_four_versions(app_server):
    server, store, tokens = app_server
    token = tokens["bob"]
    set_id = _mine(server, token)["queue"][0]["set_id"]
    for labels in ({"1": "Positive", "2": "Similar", "3": "Negative"}, {s: "Great" for s in "1234"}):
        assert call(server, f"/api/sets/{set_id}/votes", token, "POST", {"labels": labels, "seconds": 2})[0] == 422
    assert call(server, f"/api/sets/{set_id}/votes", token, "POST", {"labels": {s: "Similar" for s in "1234"}, "seconds": -1})[0] == 422
    ok = {"1": "Positive", "2": "Similar", "3": "Negative", "4": "Negative"}
    status, body, _ = call(server, f"/api/sets/{set_id}/votes", token, "POST", {"labels": ok, "seconds": 12.5})
    assert status == 200 and json.loads(body) == {"set_id": set_id, "done": 1, "assigned": 4}
    order = next(s["display_order"] for s in store.sets() if s["set_id"] == set_id)
    stored = {v["version"]: v for v in store.votes()}
    assert {stored[order[int(slot) - 1]]["label"] for slot in "1234"} == set(ok.values())
    assert all(stored[order[int(s) - 1]]["label"] == ok[s] for s in ok)
    assert all(v["seconds"] == 12.5 for v in stored.values())
    for seconds in ("5", True, 3600, float("inf")):  # a string, a boolean, an hour or more: not an active time
        body = json.dumps({"labels": ok, "seconds": seconds}).replace("Infinity", "1e999")
        assert call(server, f"/api/sets/{set_id}/votes", token, "POST", headers={"Content-Type": "application/json"},
                    raw=body.encode())[0] == 422, seconds
    revised = {**ok, "1": "Negative"}
    status, body, _ = call(server, f"/api/sets/{set_id}/votes", token, "POST", {"labels": revised, "seconds": 3})
    assert status == 409 and b"revision" in body  # a second submission is not silently a revision
    assert {v["version"]: v["label"] for v in store.votes()}[order[0]] == "Positive"
    status, _, _ = call(server, f"/api/sets/{set_id}/votes", token, "POST", {"labels": revised, "seconds": 3, "revise": True})
    assert status == 200
    assert len(store.votes()) == 4 and {v["version"]: v["label"] for v in store.votes()}[order[0]] == "Negative"
    with sqlite3.connect(store.path) as c:  # the first answer's time is kept beside the revision's
        rows = c.execute("SELECT seconds, revised_seconds, revision, ended_at <= revised_at FROM votes").fetchall()
    assert rows == [(12.5, 3.0, 2, 1)] * 4
    me = _mine(server, token)
    assert me["done"] == 1 and me["resume_at"] == 1


def test_security_headers_and_local_assets(app_server):
    server, _, _ = app_server
    assert call(server, "/", method="HEAD")[0] == 200  # link checkers and load balancers ask with HEAD
    status, body, headers = call(server, "/favicon.ico")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml") and body.startswith(b"<svg")
    status, body, headers = call(server, "/")
    assert status == 200 and b"/static/app.js" in body and b"http" not in body.replace(b"http-equiv", b"")
    assert "default-src 'self'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    for asset in ("app.js", "app.css"):
        status, body, _ = call(server, f"/static/{asset}")
        assert status == 200 and b"https://" not in body


@pytest.mark.slow
def test_fifty_annotators_submitting_at_once_lose_nothing(tmp_path):
    """Votes of concurrent annotators share transactions (group commit): each must land once, whole."""
    names = [f"annotator{i:02d}" for i in range(50)]
    store, tokens = make_store(tmp_path, sets=500, annotators=names, per_set=2)
    errors = []
    with Server(store) as server:
        def work(name):
            try:
                queue = _mine(server, tokens[name])["queue"]
                assert len(queue) == 20
                for i, q in enumerate(queue):
                    labels = {s: LABELS[(i + int(s)) % 3] for s in "1234"}
                    status, body, _ = call(server, f"/api/sets/{q['set_id']}/votes", tokens[name], "POST", {"labels": labels, "seconds": 1.0})
                    assert status == 200 and json.loads(body)["done"] == i + 1, (status, body)
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                errors.append(f"{name}: {exc!r}")

        threads = [threading.Thread(target=work, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    votes = store.votes()
    assert len(votes) == 50 * 20 * 4
    assert len({(v["set_id"], v["annotator"], v["version"]) for v in votes}) == len(votes)
    assert set(Counter(v["annotator"] for v in votes).values()) == {80}
    assert all(q["done"] for n in names for q in store.queue(n))
    orders = {s["set_id"]: s["display_order"] for s in store.sets()}
    queues = {n: [q["set_id"] for q in store.queue(n)] for n in names}
    for v in votes:  # each label where its annotator put it: slot i of the shown order
        i = queues[v["annotator"]].index(v["set_id"])
        assert v["label"] == LABELS[(i + orders[v["set_id"]].index(v["version"]) + 1) % 3]
