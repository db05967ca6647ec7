"""What a shard is: its work order (items of one stage), an item's outputs, and the shard's result."""

from __future__ import annotations

from dataclasses import dataclass, field

from hggt.core import catalog, storage
from hggt.core.fingerprint import fingerprint


@dataclass(frozen=True)
class ShardWork:
    stage: str
    manifest: str
    root: str
    shard_key: str
    config_hash: str
    code_version: str
    items: tuple[dict, ...]


@dataclass
class ItemOutput:
    rows: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    artifacts: list[tuple[str, int, str]] = field(default_factory=list)  # (uri relative to root, bytes, sha256)


@dataclass(frozen=True)
class PartResult:
    stage: str
    manifest: str
    shard_key: str
    part_uri: str
    part_sha256: str
    rejected_uri: str | None
    rows: int
    rejected: int
    items: int
    computed: int
    seconds: float
    core_seconds: float = 0.0  # spent computing items (decoding, science, encoding, writing artifacts)


def shard_items(stage: str, items: list[dict], size: int) -> list[tuple[str, tuple[dict, ...]]]:
    """Consecutive chunks of the (sorted) items, each with the fingerprint of its inputs."""
    chunks = [tuple(items[i : i + size]) for i in range(0, len(items), size)]
    return [(fingerprint([stage, list(chunk)]), chunk) for chunk in chunks]


def parts_dir(root: str, stage: str) -> str:
    """Where a stage's shard parts and item records live until the stage's manifest is merged."""
    return storage.join(root, catalog.shard_parts(stage))
