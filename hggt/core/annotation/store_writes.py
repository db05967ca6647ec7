"""The store's write path: creating a store, issuing tokens, and recording votes."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time

from hggt.core.annotation.labels import LABELS, MAX_VERSIONS
from hggt.core.annotation.store_db import SCHEMA, VERSION, AlreadySubmitted, BadVote, Forbidden, NotFound, StoreDatabase, slots, token_hash
from hggt.core.annotation.store_paths import stored_form

# The app sends active time (it stops counting after two idle minutes and while hidden): more
# than an hour on one set is a broken clock, not annotation effort, and would skew every median.
MAX_SECONDS = 3600


class StoreWrites(StoreDatabase):
    def create(self, sets: list[dict], assignments: list[dict], repeats: list[dict] = (), settings: dict | None = None) -> dict[str, str]:
        """A new store. ``sets`` rows: set_id, display_order (list), images ({file: url}).
        Returns a fresh token per annotator (only their hashes are stored)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        conn.execute(f"PRAGMA user_version = {VERSION}")
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
        """Images are recorded relative to the dataset root (those inside it), so the campaign moves with it."""
        rows = [(s["set_id"], json.dumps(s["display_order"]), json.dumps({f: stored_form(self.root, u) for f, u in s["images"].items()}))
                for s in sets]
        with self._connect(write=True) as c:
            c.executemany("INSERT INTO sets VALUES (?, ?, ?)", rows)
            c.executemany("INSERT INTO assignments VALUES (?, ?, ?, ?)",
                          [(a["set_id"], a["annotator"], a["batch"], a["position"]) for a in assignments])
            c.executemany("INSERT INTO repeats VALUES (?, ?, ?, ?, ?, ?)",
                          [(r["key"], r["set_id"], r["annotator"], r["batch"], r["position"], json.dumps(r["display_order"]))
                           for r in repeats])

    def put_settings(self, values: dict) -> None:
        with self._connect(write=True) as c:
            c.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])

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

    def record(self, annotator: str, key: str, slot_labels: dict[str, str], seconds: float, source: str = "app",
               revise: bool = False) -> None:
        """Store a complete vote (a label for each of the set's slots 1..n). A set already answered
        is changed only when ``revise`` says so (AlreadySubmitted otherwise); a revision replaces the
        labels and keeps the first answer's time beside its own (revised_at, revised_seconds).

        Votes submitted at the same time share one transaction (group commit): whoever holds the
        write lock commits every vote waiting for it, so a burst costs one fsync, not one each."""
        if not set(slot_labels) <= set(slots(MAX_VERSIONS)):
            raise BadVote(f"slots are named 1 to {MAX_VERSIONS}")
        for slot in sorted(slot_labels):
            if slot_labels[slot] not in LABELS:
                raise ValueError(f"slot {slot}: the label must be one of {', '.join(LABELS)}")
        if not 0 <= seconds < MAX_SECONDS:  # NaN fails this too
            raise ValueError(f"seconds must be a number of active seconds from 0 to {MAX_SECONDS}")
        mine = {"args": (annotator, key, dict(slot_labels), float(seconds), source, time.time(), revise), "done": False,
                "error": None}
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
                    source: str, ended: float, revise: bool) -> None:
        set_id, order, _, repeat = self._owned(c, annotator, key)
        if set(slot_labels) != set(slots(len(order))):
            raise BadVote(f"a set is submitted with a label for each of its {len(order)} versions (slots 1-{len(order)})")
        answered = (c.execute("SELECT 1 FROM repeat_votes WHERE key = ? LIMIT 1", (key,)) if repeat else
                    c.execute("SELECT 1 FROM votes WHERE set_id = ? AND annotator = ? LIMIT 1", (set_id, annotator))).fetchone()
        if answered and not revise:
            raise AlreadySubmitted("this set is already submitted; send it as a revision to change it")
        for slot, label in slot_labels.items():
            version = order[int(slot) - 1]
            if repeat:
                c.execute("""INSERT INTO repeat_votes (key, version, label, started_at, ended_at, seconds) VALUES (?, ?, ?, ?, ?, ?)
                             ON CONFLICT (key, version) DO UPDATE SET label = excluded.label, revised_at = excluded.ended_at,
                             revised_seconds = excluded.seconds, revision = repeat_votes.revision + 1""",
                          (key, version, label, ended - seconds, ended, seconds))
                continue
            c.execute(
                """INSERT INTO votes (set_id, annotator, version, label, started_at, ended_at, seconds, source)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (set_id, annotator, version) DO UPDATE SET label = excluded.label,
                   revised_at = excluded.ended_at, revised_seconds = excluded.seconds,
                   revision = votes.revision + 1, source = excluded.source""",
                (set_id, annotator, version, label, ended - seconds, ended, seconds, source),
            )

    def record_versions(self, rows: list[dict]) -> None:
        """Insert votes given by version (the proxy annotator), replacing earlier ones."""
        with self._connect(write=True) as c:
            c.executemany(
                """INSERT OR REPLACE INTO votes (set_id, annotator, version, label, started_at, ended_at, seconds, source)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [(r["set_id"], r["annotator"], r["version"], r["label"], r.get("started_at"), r.get("ended_at"),
                  r.get("seconds"), r["source"]) for r in rows],
            )
