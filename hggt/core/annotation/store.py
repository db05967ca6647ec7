"""The annotation store: one SQLite database (WAL mode) per dataset, holding annotators (by token
hash), sets with their images and display order, assignments, votes, and the quality-control
repeats with their own votes (kept apart so that a repeat never counts twice in the labels).

The database and its connections are in store_db, the write path in store_writes, the reads in
store_queries, how images are named (relative to the dataset root) in store_paths; callers import
all of it from here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hggt.core.annotation.store_db import SCHEMA, AlreadySubmitted, BadVote, Forbidden, NotFound, token_hash
from hggt.core.annotation.store_queries import StoreQueries
from hggt.core.annotation.store_writes import MAX_SECONDS, StoreWrites

__all__ = ["MAX_SECONDS", "SCHEMA", "AlreadySubmitted", "AnnotationStore", "BadVote", "Forbidden", "NotFound", "store_for", "token_hash"]


def store_for(root: str) -> "AnnotationStore":
    """The dataset's annotation database: annotation/votes.sqlite in a local dataset; for one in
    object storage (SQLite needs a local file) a folder of this machine, HGGT_STATE_DIR (default
    ~/.cache/hggt) / annotation / <a hash of the dataset URL>."""
    from hggt.core import catalog, storage

    fs, path = storage.url_to_fs(root)
    if type(fs).__name__ == "LocalFileSystem":
        return AnnotationStore(Path(path) / catalog.annotation_db(), root=path)
    state = Path(os.environ.get("HGGT_STATE_DIR", Path.home() / ".cache" / "hggt")).expanduser()
    digest = hashlib.sha256(json.dumps(root, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return AnnotationStore(state / catalog.ANNOTATION_DIR / digest / catalog.ANNOTATION_DB, root=storage.normalize_root(root))


class AnnotationStore(StoreWrites, StoreQueries):
    """One dataset's annotation database, read and written through one object."""
