"""The annotation store: one SQLite database (WAL mode) per dataset, holding annotators (by token
hash), sets with their images and display order, assignments and votes.

Every call opens its own connection, so any number of threads and processes can use the store at
once; writes are single transactions, so concurrent annotators lose nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

from hggt_core.annotation.labels import LABELS, VERSIONS

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
"""


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AnnotationStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @contextmanager
    def _connect(self, write: bool = False):
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            conn.execute("PRAGMA foreign_keys = ON")
            if write:
                conn.execute("BEGIN IMMEDIATE")
            yield conn
            if write:
                conn.execute("COMMIT")
        except BaseException:
            if write and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def exists(self) -> bool:
        return self.path.is_file()

    def create(self, sets: list[dict], assignments: list[dict]) -> dict[str, str]:
        """A new store. ``sets`` rows: set_id, display_order (list), images ({file: url}).
        Returns a fresh token per annotator (only their hashes are stored)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        conn.close()
        names = sorted({a["annotator"] for a in assignments})
        tokens = {name: secrets.token_urlsafe(24) for name in names}
        with self._connect(write=True) as c:
            c.executemany("INSERT INTO annotators VALUES (?, ?)", [(n, token_hash(t)) for n, t in tokens.items()])
            c.executemany("INSERT INTO sets VALUES (?, ?, ?)",
                          [(s["set_id"], json.dumps(s["display_order"]), json.dumps(s["images"])) for s in sets])
            c.executemany("INSERT INTO assignments VALUES (?, ?, ?, ?)",
                          [(a["set_id"], a["annotator"], a["batch"], a["position"]) for a in assignments])
        return tokens

    def reissue_tokens(self) -> dict[str, str]:
        with self._connect(write=True) as c:
            names = [r[0] for r in c.execute("SELECT name FROM annotators ORDER BY name")]
            tokens = {name: secrets.token_urlsafe(24) for name in names}
            c.executemany("UPDATE annotators SET token_sha256 = ? WHERE name = ?", [(token_hash(t), n) for n, t in tokens.items()])
        return tokens

    def annotator_for_token(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._connect() as c:
            row = c.execute("SELECT name FROM annotators WHERE token_sha256 = ?", (token_hash(token),)).fetchone()
        return row[0] if row else None

    def queue(self, annotator: str) -> list[dict]:
        """The annotator's sets in working order, each with whether it has a complete vote."""
        with self._connect() as c:
            rows = c.execute(
                """SELECT a.set_id, a.batch, a.position, COUNT(v.version)
                   FROM assignments a LEFT JOIN votes v ON v.set_id = a.set_id AND v.annotator = a.annotator
                   WHERE a.annotator = ? GROUP BY a.set_id ORDER BY a.batch, a.position""",
                (annotator,),
            ).fetchall()
        return [{"set_id": s, "batch": b, "position": p, "done": n == len(VERSIONS)} for s, b, p, n in rows]

    def _owned_set(self, c: sqlite3.Connection, annotator: str, set_id: str) -> tuple[list[str], dict[str, str]]:
        row = c.execute("SELECT display_order, images FROM sets WHERE set_id = ?", (set_id,)).fetchone()
        if row is None:
            raise NotFound(set_id)
        if c.execute("SELECT 1 FROM assignments WHERE set_id = ? AND annotator = ?", (set_id, annotator)).fetchone() is None:
            raise Forbidden(set_id)
        return json.loads(row[0]), json.loads(row[1])

    def set_for(self, annotator: str, set_id: str) -> dict:
        """The set as the annotator sees it: slots 1-4 in display order and their current labels."""
        with self._connect() as c:
            order, _ = self._owned_set(c, annotator, set_id)
            votes = dict(c.execute("SELECT version, label FROM votes WHERE set_id = ? AND annotator = ?", (set_id, annotator)))
        return {"set_id": set_id, "labels": {str(i + 1): votes.get(v) for i, v in enumerate(order)}}

    def image_url(self, annotator: str, set_id: str, slot: str) -> str:
        """The file behind slot 'original' or '1'..'4' of an owned set."""
        with self._connect() as c:
            order, images = self._owned_set(c, annotator, set_id)
        if slot == "original":
            return images["original"]
        if slot in {"1", "2", "3", "4"}:
            return images[order[int(slot) - 1]]
        raise NotFound(slot)

    def record(self, annotator: str, set_id: str, slot_labels: dict[str, str], seconds: float, source: str = "app") -> None:
        """Store a complete vote (a label for each of the four slots), replacing an earlier one."""
        if set(slot_labels) != {"1", "2", "3", "4"}:
            raise ValueError("a set is submitted with a label for each of its four versions")
        bad = {v for v in slot_labels.values() if v not in LABELS}
        if bad:
            raise ValueError(f"unknown labels {sorted(bad)}")
        if not 0 <= seconds < 7 * 24 * 3600:
            raise ValueError("seconds out of range")
        ended = time.time()
        with self._connect(write=True) as c:
            order, _ = self._owned_set(c, annotator, set_id)
            for slot, label in slot_labels.items():
                c.execute(
                    """INSERT INTO votes VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)
                       ON CONFLICT (set_id, annotator, version) DO UPDATE SET label = excluded.label,
                       started_at = excluded.started_at, ended_at = excluded.ended_at, seconds = excluded.seconds,
                       revision = votes.revision + 1, source = excluded.source""",
                    (set_id, annotator, order[int(slot) - 1], label, ended - seconds, ended, seconds, source),
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
        with self._connect() as c:
            rows = c.execute(
                "SELECT set_id, version, annotator, label, started_at, ended_at, seconds, source FROM votes ORDER BY set_id, annotator, version"
            ).fetchall()
        keys = ("set_id", "version", "annotator", "label", "started_at", "ended_at", "seconds", "source")
        return [dict(zip(keys, r)) for r in rows]

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
