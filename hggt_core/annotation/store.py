"""The annotation store: one SQLite database (WAL mode) per dataset, holding annotators (by token
hash), sets with their images and display order, assignments, votes, and the quality-control
repeats with their own votes (kept apart so that a repeat never counts twice in the labels).

Each thread keeps one connection (opening one per call cost more than the queries of a vote);
writes are single IMMEDIATE transactions, so concurrent annotators lose nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from hggt_core.annotation.labels import LABELS, MAX_VERSIONS

SCHEMA = """
CREATE TABLE IF NOT EXISTS annotators (name TEXT PRIMARY KEY, token_sha256 TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS sets (set_id TEXT PRIMARY KEY, display_order TEXT NOT NULL, images TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assignments (
    set_id TEXT NOT NULL REFERENCES sets(set_id), annotator TEXT NOT NULL REFERENCES annotators(name),
    batch INTEGER NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (set_id, annotator));
CREATE INDEX IF NOT EXISTS assignments_by_annotator ON assignments (annotator, batch, position);
CREATE TABLE IF NOT EXISTS votes (
    set_id TEXT NOT NULL, annotator TEXT NOT NULL, version TEXT NOT NULL, label TEXT NOT NULL,
    started_at REAL, ended_at REAL, seconds REAL, revision INTEGER NOT NULL DEFAULT 1, source TEXT NOT NULL,
    PRIMARY KEY (set_id, annotator, version));
CREATE INDEX IF NOT EXISTS votes_by_annotator ON votes (annotator, set_id);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repeats (
    key TEXT PRIMARY KEY, set_id TEXT NOT NULL REFERENCES sets(set_id), annotator TEXT NOT NULL REFERENCES annotators(name),
    batch INTEGER NOT NULL, position REAL NOT NULL, display_order TEXT NOT NULL, UNIQUE (set_id, annotator));
CREATE TABLE IF NOT EXISTS repeat_votes (
    key TEXT NOT NULL REFERENCES repeats(key), version TEXT NOT NULL, label TEXT NOT NULL,
    started_at REAL, ended_at REAL, seconds REAL, revision INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (key, version));
"""
MAX_SECONDS = 7 * 24 * 3600


def _slots(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(1, n + 1))


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class BadVote(ValueError):
    """A submission that does not label each of the set's versions once; nothing of it is stored."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def store_for(root: str) -> "AnnotationStore":
    """The dataset's annotation database: annotation/votes.sqlite in a local dataset; for one in
    object storage (SQLite needs a local file) a folder of this machine, HGGT_STATE_DIR (default
    ~/.cache/hggt) / annotation / <a hash of the dataset URL>."""
    from hggt_core import storage

    fs, path = storage.url_to_fs(root)
    if type(fs).__name__ == "LocalFileSystem":
        return AnnotationStore(Path(path) / "annotation" / "votes.sqlite")
    state = Path(os.environ.get("HGGT_STATE_DIR", Path.home() / ".cache" / "hggt")).expanduser()
    digest = hashlib.sha256(json.dumps(root, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return AnnotationStore(state / "annotation" / digest / "votes.sqlite")


class AnnotationStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._migrated = False
        # Writers of this process queue here rather than in SQLite's busy handler, whose sleeps
        # (up to 100 ms a try) made the slowest votes wait far longer than the write takes.
        self._write_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: list[dict] = []

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # a forked child must not share its parent's handle
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 60000")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn, self._local.pid = conn, os.getpid()
            if not self._migrated:  # databases from before the QC tables gain them here
                conn.executescript(SCHEMA)
                self._migrated = True
        return conn

    @contextmanager
    def _connect(self, write: bool = False):
        conn = self._conn()
        if not write:
            yield conn
            return
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def exists(self) -> bool:
        return self.path.is_file()

    def create(self, sets: list[dict], assignments: list[dict], repeats: list[dict] = (), settings: dict | None = None) -> dict[str, str]:
        """A new store. ``sets`` rows: set_id, display_order (list), images ({file: url}).
        Returns a fresh token per annotator (only their hashes are stored)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        conn.close()
        tokens = self.add_annotators(sorted({a["annotator"] for a in assignments}))
        self.add_sets(sets, assignments, repeats)
        self.put_settings(settings or {})
        return tokens

    def add_annotators(self, names: list[str]) -> dict[str, str]:
        tokens = {name: secrets.token_urlsafe(24) for name in names}
        with self._connect(write=True) as c:
            c.executemany("INSERT INTO annotators VALUES (?, ?)", [(n, token_hash(t)) for n, t in tokens.items()])
        return tokens

    def add_sets(self, sets: list[dict], assignments: list[dict], repeats: list[dict] = ()) -> None:
        with self._connect(write=True) as c:
            c.executemany("INSERT INTO sets VALUES (?, ?, ?)",
                          [(s["set_id"], json.dumps(s["display_order"]), json.dumps(s["images"])) for s in sets])
            c.executemany("INSERT INTO assignments VALUES (?, ?, ?, ?)",
                          [(a["set_id"], a["annotator"], a["batch"], a["position"]) for a in assignments])
            c.executemany("INSERT INTO repeats VALUES (?, ?, ?, ?, ?, ?)",
                          [(r["key"], r["set_id"], r["annotator"], r["batch"], r["position"], json.dumps(r["display_order"]))
                           for r in repeats])

    def put_settings(self, values: dict) -> None:
        with self._connect(write=True) as c:
            c.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])

    def settings(self) -> dict:
        with self._connect() as c:
            return {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM settings")}

    def reissue_tokens(self) -> dict[str, str]:
        with self._connect(write=True) as c:
            names = [r[0] for r in c.execute("SELECT name FROM annotators ORDER BY name")]
            tokens = {name: secrets.token_urlsafe(24) for name in names}
            c.executemany("UPDATE annotators SET token_sha256 = ? WHERE name = ?", [(token_hash(t), n) for n, t in tokens.items()])
        return tokens

    def issue_admin_token(self) -> str:
        """The coordinator's read-only token (a new one replaces the old)."""
        token = secrets.token_urlsafe(24)
        self.put_settings({"admin_token_sha256": token_hash(token)})
        return token

    def is_admin_token(self, token: str | None) -> bool:
        if not token:
            return False
        with self._connect() as c:
            row = c.execute("SELECT value FROM settings WHERE key = 'admin_token_sha256'").fetchone()
        return row is not None and secrets.compare_digest(json.loads(row[0]), token_hash(token))

    def annotator_for_token(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._connect() as c:
            row = c.execute("SELECT name FROM annotators WHERE token_sha256 = ?", (token_hash(token),)).fetchone()
        return row[0] if row else None

    def queue(self, annotator: str) -> list[dict]:
        """The annotator's sets in working order, repeats among them (addressed by their own key, which
        the API calls set_id so that the page cannot tell a repeat), each with whether it is done."""
        with self._connect() as c:
            rows = c.execute(
                """SELECT a.set_id, a.batch, a.position, 0, (SELECT COUNT(*) FROM votes v WHERE v.set_id = a.set_id AND v.annotator = a.annotator),
                          (SELECT json_array_length(s.display_order) FROM sets s WHERE s.set_id = a.set_id)
                   FROM assignments a WHERE a.annotator = ?
                   UNION ALL
                   SELECT r.key, r.batch, r.position, 1, (SELECT COUNT(*) FROM repeat_votes v WHERE v.key = r.key), json_array_length(r.display_order)
                   FROM repeats r WHERE r.annotator = ? ORDER BY 2, 3, 4, 1""",
                (annotator, annotator),
            ).fetchall()
        return [{"set_id": s, "batch": b, "position": p, "repeat": bool(r), "done": n == k} for s, b, p, r, n, k in rows]

    def progress(self, annotator: str) -> dict:
        with self._connect() as c:
            # A set is done when each of its versions (as many as its display order holds) has a vote.
            done = c.execute("""SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM votes v JOIN sets s ON s.set_id = v.set_id WHERE v.annotator = ?
                                                         GROUP BY v.set_id HAVING COUNT(*) = MAX(json_array_length(s.display_order))))
                                + (SELECT COUNT(*) FROM (SELECT 1 FROM repeat_votes v JOIN repeats r ON r.key = v.key
                                                         WHERE r.annotator = ? GROUP BY v.key HAVING COUNT(*) = MAX(json_array_length(r.display_order))))""",
                             (annotator, annotator)).fetchone()[0]
            assigned = c.execute("SELECT (SELECT COUNT(*) FROM assignments WHERE annotator = ?) + (SELECT COUNT(*) FROM repeats WHERE annotator = ?)",
                                 (annotator, annotator)).fetchone()[0]
        return {"done": done, "assigned": assigned}

    def _owned(self, c: sqlite3.Connection, annotator: str, key: str) -> tuple[str, list[str], dict[str, str], bool]:
        """(set id, display order, images, is a repeat) of an item of the annotator's queue."""
        row = c.execute("SELECT display_order, images FROM sets WHERE set_id = ?", (key,)).fetchone()
        if row is not None:
            if c.execute("SELECT 1 FROM assignments WHERE set_id = ? AND annotator = ?", (key, annotator)).fetchone() is None:
                raise Forbidden(key)
            return key, json.loads(row[0]), json.loads(row[1]), False
        rep = c.execute("""SELECT r.set_id, r.display_order, s.images, r.annotator FROM repeats r JOIN sets s ON s.set_id = r.set_id
                           WHERE r.key = ?""", (key,)).fetchone()
        if rep is None:
            raise NotFound(key)
        if rep[3] != annotator:
            raise Forbidden(key)
        return rep[0], json.loads(rep[1]), json.loads(rep[2]), True

    def set_for(self, annotator: str, key: str) -> dict:
        """The set as the annotator sees it: slots 1..n (n: its versions) in display order and their current labels."""
        with self._connect() as c:
            set_id, order, _, repeat = self._owned(c, annotator, key)
            if repeat:
                votes = dict(c.execute("SELECT version, label FROM repeat_votes WHERE key = ?", (key,)))
            else:
                votes = dict(c.execute("SELECT version, label FROM votes WHERE set_id = ? AND annotator = ?", (set_id, annotator)))
        return {"set_id": key, "labels": {str(i + 1): votes.get(v) for i, v in enumerate(order)}}

    def image_url(self, annotator: str, key: str, slot: str) -> str:
        """The file behind slot 'original' or '1'..'n' of an owned set."""
        with self._connect() as c:
            _, order, images, _ = self._owned(c, annotator, key)
        if slot == "original":
            return images["original"]
        if slot in _slots(len(order)):
            return images[order[int(slot) - 1]]
        raise NotFound(slot)

    def record(self, annotator: str, key: str, slot_labels: dict[str, str], seconds: float, source: str = "app") -> None:
        """Store a complete vote (a label for each of the set's slots 1..n), replacing an earlier one.

        Votes submitted at the same time share one transaction (group commit): whoever holds the
        write lock commits every vote waiting for it, so a burst costs one fsync, not one each."""
        if not set(slot_labels) <= set(_slots(MAX_VERSIONS)):
            raise BadVote(f"slots are named 1 to {MAX_VERSIONS}")
        for slot in sorted(slot_labels):
            if slot_labels[slot] not in LABELS:
                raise ValueError(f"slot {slot}: the label must be one of {', '.join(LABELS)}")
        if not 0 <= seconds < MAX_SECONDS:  # NaN fails this too
            raise ValueError("seconds must be a number between 0 and one week")
        mine = {"args": (annotator, key, dict(slot_labels), float(seconds), source, time.time()), "done": False, "error": None}
        with self._pending_lock:
            self._pending.append(mine)
        with self._write_lock:
            if not mine["done"]:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                conn = self._conn()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for item in batch:
                        try:
                            self._write_vote(conn, *item["args"])
                        except (NotFound, Forbidden, BadVote) as exc:  # refused before anything of it was written
                            item["error"] = exc
                    conn.execute("COMMIT")
                except Exception as exc:  # nothing of the batch was stored: every submitter hears why
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    for item in batch:
                        item["error"] = exc
                finally:
                    for item in batch:
                        item["done"] = True
        if mine["error"] is not None:
            raise mine["error"]

    def _write_vote(self, c: sqlite3.Connection, annotator: str, key: str, slot_labels: dict[str, str], seconds: float,
                    source: str, ended: float) -> None:
        set_id, order, _, repeat = self._owned(c, annotator, key)
        if set(slot_labels) != set(_slots(len(order))):
            raise BadVote(f"a set is submitted with a label for each of its {len(order)} versions (slots 1-{len(order)})")
        for slot, label in slot_labels.items():
            version = order[int(slot) - 1]
            if repeat:
                c.execute("""INSERT INTO repeat_votes VALUES (?, ?, ?, ?, ?, ?, 1)
                             ON CONFLICT (key, version) DO UPDATE SET label = excluded.label, started_at = excluded.started_at,
                             ended_at = excluded.ended_at, seconds = excluded.seconds, revision = repeat_votes.revision + 1""",
                          (key, version, label, ended - seconds, ended, seconds))
                continue
            c.execute(
                """INSERT INTO votes VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)
                   ON CONFLICT (set_id, annotator, version) DO UPDATE SET label = excluded.label,
                   started_at = excluded.started_at, ended_at = excluded.ended_at, seconds = excluded.seconds,
                   revision = votes.revision + 1, source = excluded.source""",
                (set_id, annotator, version, label, ended - seconds, ended, seconds, source),
            )

    def record_versions(self, rows: list[dict]) -> None:
        """Insert votes given by version (the proxy annotator), replacing earlier ones."""
        with self._connect(write=True) as c:
            c.executemany(
                """INSERT OR REPLACE INTO votes VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)""",
                [(r["set_id"], r["annotator"], r["version"], r["label"], r.get("started_at"), r.get("ended_at"),
                  r.get("seconds"), r["source"]) for r in rows],
            )

    def votes(self) -> list[dict]:
        """The votes that count: repeats' votes are not among them."""
        with self._connect() as c:
            rows = c.execute(
                "SELECT set_id, version, annotator, label, started_at, ended_at, seconds, source FROM votes ORDER BY set_id, annotator, version"
            ).fetchall()
        keys = ("set_id", "version", "annotator", "label", "started_at", "ended_at", "seconds", "source")
        return [dict(zip(keys, r)) for r in rows]

    def repeat_votes(self) -> list[dict]:
        """The votes given to repeated sets, for self-consistency only."""
        with self._connect() as c:
            rows = c.execute("""SELECT r.key, r.set_id, v.version, r.annotator, v.label, v.ended_at, v.seconds
                                FROM repeat_votes v JOIN repeats r ON r.key = v.key ORDER BY r.annotator, r.set_id, v.version""").fetchall()
        keys = ("key", "set_id", "version", "annotator", "label", "ended_at", "seconds")
        return [dict(zip(keys, r)) for r in rows]

    def repeats(self) -> list[dict]:
        with self._connect() as c:
            rows = c.execute("SELECT key, set_id, annotator, batch, position FROM repeats ORDER BY annotator, batch, position").fetchall()
        return [dict(zip(("key", "set_id", "annotator", "batch", "position"), r)) for r in rows]

    def assignments(self) -> list[dict]:
        with self._connect() as c:
            rows = c.execute("SELECT set_id, annotator, batch, position FROM assignments ORDER BY batch, position, annotator").fetchall()
        return [dict(zip(("set_id", "annotator", "batch", "position"), r)) for r in rows]

    def sets(self) -> list[dict]:
        with self._connect() as c:
            rows = c.execute("SELECT set_id, display_order, images FROM sets ORDER BY set_id").fetchall()
        return [{"set_id": s, "display_order": json.loads(o), "images": json.loads(i)} for s, o, i in rows]

    def annotators(self) -> list[str]:
        with self._connect() as c:
            return [r[0] for r in c.execute("SELECT name FROM annotators ORDER BY name")]

    def required_votes(self) -> dict[str, int]:
        with self._connect() as c:
            return dict(c.execute("SELECT set_id, COUNT(*) FROM assignments GROUP BY set_id"))
