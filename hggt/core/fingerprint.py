"""A short content hash of any JSON-able value: what the item records, shard keys and cache keys
are made of (the same value gives the same 20 hex digits on any machine)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]
