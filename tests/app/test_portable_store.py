"""The store names images relative to the dataset root: a copied or moved campaign serves its own
files, an older database of absolute paths is rewritten on open, and no name leads out of the root."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

from hggt.core.annotation.store import AnnotationStore
from hggt.core.annotation.store_db import REVISION_COLUMNS, VERSION
from hggt.core.images import encode_png
from tests.app.conftest import Server, make_store
from tests.app.test_app import call
from tests.photos import textured


def _db(folder) -> sqlite3.Connection:
    return sqlite3.connect(folder / "annotation" / "votes.sqlite")


def _slots(server, store, token, set_id) -> dict[str, bytes]:
    n = len(next(s["display_order"] for s in store.sets() if s["set_id"] == set_id))
    out = {}
    for slot in ("original", *map(str, range(1, n + 1))):
        status, body, _ = call(server, f"/api/sets/{set_id}/images/{slot}", token)
        assert status == 200, slot
        out[slot] = body
    return out


def test_an_old_database_of_absolute_paths_serves_the_moved_copy_and_not_the_original(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    store, tokens = make_store(a, sets=2, annotators=["alice"], per_set=1)
    with _db(a) as db:  # as the first version wrote it: absolute paths, no revision times, user_version 0
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION == 2
        for table in ("votes", "repeat_votes"):
            for column in REVISION_COLUMNS:
                db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        rows = db.execute("SELECT set_id, images FROM sets").fetchall()
        assert all(not u.startswith("/") for _, i in rows for u in json.loads(i).values())
        db.executemany("UPDATE sets SET images = ? WHERE set_id = ?",
                       [(json.dumps({f: str(a / u) for f, u in json.loads(i).items()}), s) for s, i in rows])
        db.execute("PRAGMA user_version = 0")
    shutil.copytree(a, b, copy_function=shutil.copy2)  # cp -a
    for i, png in enumerate(sorted((b / "images").iterdir())):  # the copy's own images differ from the original's
        png.write_bytes(encode_png(textured(24, 32, seed=900 + i)))
    os.rename(b, c)  # mv
    moved = AnnotationStore(c / "annotation" / "votes.sqlite")
    set_id = moved.queue("alice")[0]["set_id"]
    order = next(s["display_order"] for s in moved.sets() if s["set_id"] == set_id)
    with Server(moved) as server:
        served = _slots(server, moved, tokens["alice"], set_id)
    files = ("original", *order)
    assert served == {slot: (c / "images" / f"{set_id}_{f}.png").read_bytes() for slot, f in zip(served, files)}
    with _db(c) as db:  # rewritten in place, relative to the root, and given the revision times
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
        assert {r[1] for r in db.execute("PRAGMA table_info(votes)")} >= set(REVISION_COLUMNS)
        stored = json.loads(db.execute("SELECT images FROM sets WHERE set_id = ?", (set_id,)).fetchone()[0])
    assert stored == {f: f"images/{set_id}_{f}.png" for f in files}
    labels = {str(i): "Similar" for i in range(1, len(order) + 1)}
    moved.record("alice", set_id, labels, 2.0)
    moved.record("alice", set_id, {**labels, "1": "Positive"}, 1.0, revise=True)  # the migrated tables take revisions
    assert sorted(v["label"] for v in moved.votes()) == ["Positive"] + ["Similar"] * (len(order) - 1)


def test_a_name_leading_out_of_the_root_is_refused(tmp_path):
    store, tokens = make_store(tmp_path / "ds", sets=1, annotators=["alice"], per_set=1)
    (tmp_path / "secret.png").write_bytes(encode_png(textured(24, 32, seed=1)))
    set_id = store.queue("alice")[0]["set_id"]
    with _db(tmp_path / "ds") as db:
        images = json.loads(db.execute("SELECT images FROM sets").fetchone()[0])
        db.execute("UPDATE sets SET images = ?", (json.dumps({**images, "original": "images/../../secret.png"}),))
    with Server(store) as server:
        assert call(server, f"/api/sets/{set_id}/images/original", tokens["alice"])[0] == 404
        assert call(server, f"/api/sets/{set_id}/images/1", tokens["alice"])[0] == 200
