"""The annotation database underneath the store: its tables, its connections and transactions, the
errors it raises, and the check that an item belongs to the annotator asking for it.

Each thread keeps one connection (opening one per call cost more than the queries of a vote);
writes are single IMMEDIATE transactions, so concurrent annotators lose nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from hggt.core.annotation.store_paths import relocate

# PRAGMA user_version. 2: a revised vote keeps its first time, the revision's beside it
# (revised_at, revised_seconds); 1: a set's images are named relative to the dataset root
# (store_paths); 0, before: absolute paths, which served the old folder's files from a copied dataset.
VERSION = 2
REVISION_COLUMNS = ("revised_at", "revised_seconds")

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
    revised_at REAL, revised_seconds REAL, PRIMARY KEY (set_id, annotator, version));
CREATE INDEX IF NOT EXISTS votes_by_annotator ON votes (annotator, set_id);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repeats (
    key TEXT PRIMARY KEY, set_id TEXT NOT NULL REFERENCES sets(set_id), annotator TEXT NOT NULL REFERENCES annotators(name),
    batch INTEGER NOT NULL, position REAL NOT NULL, display_order TEXT NOT NULL, UNIQUE (set_id, annotator));
CREATE TABLE IF NOT EXISTS repeat_votes (
    key TEXT NOT NULL REFERENCES repeats(key), version TEXT NOT NULL, label TEXT NOT NULL,
    started_at REAL, ended_at REAL, seconds REAL, revision INTEGER NOT NULL DEFAULT 1,
    revised_at REAL, revised_seconds REAL, PRIMARY KEY (key, version));
"""


def slots(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(1, n + 1))


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class BadVote(ValueError):
    """A submission that does not label each of the set's versions once; nothing of it is stored."""


class AlreadySubmitted(BadVote):
    """A second submission of a set that was not sent as a revision: an extra Enter on a finished
    set must not replace the first answer and its time."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def upgrade(conn: sqlite3.Connection, root: str) -> None:
    """Bring an older database to VERSION in place. One IMMEDIATE transaction: all of it or none
    (SQLite's journal), and the version is read again inside it, so of several processes opening
    the database at once one migrates and the others find it done."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found < 1:
            rows = {s: json.loads(i) for s, i in conn.execute("SELECT set_id, images FROM sets")}
            conn.executemany("UPDATE sets SET images = ? WHERE set_id = ?",
                             [(json.dumps(images), s) for s, images in relocate(root, rows).items()])
        if found < 2:
            for table in ("votes", "repeat_votes"):
                have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                for column in REVISION_COLUMNS:
                    if column not in have:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} REAL")
        if found < VERSION:
            conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class StoreDatabase:
    def __init__(self, path: str | Path, root: str | None = None):
        """``root``: the dataset root the images are named from; by default the folder above
        annotation/, where a local dataset keeps its database."""
        self.path = Path(path)
        self.root = root or os.path.dirname(os.path.dirname(os.path.abspath(self.path)))
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
            if not self._migrated:  # databases from before the QC tables gain them here, and relative paths
                conn.executescript(SCHEMA)
                upgrade(conn, self.root)
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
