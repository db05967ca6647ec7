"""What a manifest's schema is: its name, version, key columns, pyarrow schema and the stage that writes it."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class ManifestSpec:
    name: str
    version: int
    key: tuple[str, ...]
    schema: pa.Schema
    produced_by: str


def manifest_spec(name: str, version: int, key: tuple[str, ...], produced_by: str, fields: list[pa.Field]) -> ManifestSpec:
    return ManifestSpec(name, version, key, pa.schema(fields), produced_by)
