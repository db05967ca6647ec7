"""The store's reads: what the app shows an annotator, and the tables the annotate tasks export."""

from __future__ import annotations

import json
import secrets

from hggt.core.annotation.store_db import NotFound, StoreDatabase, slots, token_hash
from hggt.core.annotation.store_paths import EscapesRoot, resolve


class StoreQueries(StoreDatabase):
    def settings(self) -> dict:
        with self._connect() as c:
            return {k: json.loads(v) for k, v in c.execute("SELECT key, value FROM settings")}

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
        """The file behind slot 'original' or '1'..'n' of an owned set, taken from this store's
        dataset root; NotFound for a name that would lead out of it."""
        with self._connect() as c:
            _, order, images, _ = self._owned(c, annotator, key)
        if slot == "original":
            stored = images["original"]
        elif slot in slots(len(order)):
            stored = images[order[int(slot) - 1]]
        else:
            raise NotFound(slot)
        try:
            return resolve(self.root, stored)
        except EscapesRoot:
            raise NotFound(slot) from None

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

    def revised_sets(self) -> dict[str, int]:
        """Per annotator: sets (repeats included) submitted again as a revision."""
        with self._connect() as c:
            rows = c.execute("""SELECT annotator, COUNT(*) FROM (SELECT DISTINCT annotator, set_id FROM votes WHERE revision > 1
                                UNION ALL SELECT DISTINCT r.annotator, r.key FROM repeat_votes v JOIN repeats r ON r.key = v.key
                                WHERE v.revision > 1) GROUP BY annotator""").fetchall()
        return dict(rows)

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
        return [{"set_id": s, "display_order": json.loads(o), "images": {f: resolve(self.root, u) for f, u in json.loads(i).items()}}
                for s, o, i in rows]

    def annotators(self) -> list[str]:
        with self._connect() as c:
            return [r[0] for r in c.execute("SELECT name FROM annotators ORDER BY name")]

    def required_votes(self) -> dict[str, int]:
        with self._connect() as c:
            return dict(c.execute("SELECT set_id, COUNT(*) FROM assignments GROUP BY set_id"))
