"""Read, write and merge Parquet manifests (``<root>/manifests/<name>.parquet``)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hggt.core import catalog, storage
from hggt.core.schemas import MANIFESTS, ManifestSpec

_META_NAME = b"hggt.manifest"
_META_VERSION = b"hggt.schema_version"


class ManifestError(RuntimeError):
    """A manifest is missing, unreadable or of another schema version."""


def spec(name: str) -> ManifestSpec:
    try:
        return MANIFESTS[name]
    except KeyError:
        raise ManifestError(f"unknown manifest {name!r}; known: {sorted(MANIFESTS)}") from None


def manifest_url(root: str, name: str) -> str:
    return storage.join(root, catalog.manifest(name))


def to_table(name: str, rows: Sequence[dict]) -> pa.Table:
    """Rows (dicts) as a table of the manifest's schema; missing optional columns become null."""
    s = spec(name).schema
    columns = {f.name: [row.get(f.name) for row in rows] for f in s}
    return pa.Table.from_pydict(columns, schema=s)


def empty(name: str) -> pa.Table:
    return spec(name).schema.empty_table()


def table_bytes(name: str, table: pa.Table) -> bytes:
    s = spec(name)
    table = table.select(s.schema.names).cast(s.schema)
    table = table.replace_schema_metadata({_META_NAME: name.encode(), _META_VERSION: str(s.version).encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def write_table(url: str, name: str, table: pa.Table) -> storage.Written:
    return storage.atomic_write(url, table_bytes(name, table))


def _arrow_owned(data: bytes) -> pa.Buffer:
    """A copy of ``data`` in Arrow's memory. Parquet read from a buffer that wraps a Python object
    aborts the interpreter at exit now and then ("terminate called without an active exception":
    pyarrow 23 releases the object after Python has shut down; 16 exits in 30 under load, none with
    Arrow's own buffer)."""
    buf = pa.allocate_buffer(len(data))
    pa.FixedSizeBufferWriter(buf).write(data)
    return buf


def read_table(url: str, name: str) -> pa.Table:
    try:
        data = storage.read_bytes(url)
    except FileNotFoundError:
        raise ManifestError(f"manifest {url} does not exist; run `{spec(name).produced_by}` first") from None
    try:
        table = pq.read_table(pa.BufferReader(_arrow_owned(data)))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"manifest {url} is unreadable ({exc}); delete it and re-run `{spec(name).produced_by}`") from None
    meta = table.schema.metadata or {}
    version = meta.get(_META_VERSION, b"?").decode()
    expected = spec(name).version
    if meta.get(_META_NAME, b"").decode() == name and version.isdigit() and int(version) < expected:
        upgraded = _add_new_columns(table, spec(name).schema)
        if upgraded is not None:
            return upgraded
    if meta.get(_META_NAME, b"").decode() != name or version != str(expected):
        raise ManifestError(
            f"manifest {url} has schema {meta.get(_META_NAME, b'?').decode()} v{version}, "
            f"this hggt expects {name} v{expected}; delete it and re-run `{spec(name).produced_by}`"
        )
    return table.cast(spec(name).schema)


def _add_new_columns(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """An older manifest whose only difference is columns added since, all nullable, read as
    the current version with those columns empty; None if it differs in any other way."""
    missing = [f for f in schema if f.name not in table.column_names]
    if any(not f.nullable for f in missing) or set(table.column_names) - set(schema.names):
        return None
    for f in missing:
        table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def write(root: str, name: str, table: pa.Table) -> storage.Written:
    return write_table(manifest_url(root, name), name, table)


def write_if_changed(root: str, name: str, table: pa.Table) -> bool:
    """Write unless identical bytes are already there, so a re-run leaves finished files untouched."""
    data = table_bytes(name, table)
    url = manifest_url(root, name)
    try:
        if storage.sha256_bytes(storage.read_bytes(url)) == storage.sha256_bytes(data):
            return False
    except FileNotFoundError:
        pass
    storage.atomic_write(url, data)
    return True


def read(root: str, name: str) -> pa.Table:
    return read_table(manifest_url(root, name), name)


def read_or_empty(root: str, name: str) -> pa.Table:
    url = manifest_url(root, name)
    return read_table(url, name) if storage.exists(url) else empty(name)


def merge(name: str, tables: Iterable[pa.Table]) -> pa.Table:
    """Concatenate, keep the last row of each key, sort by key: the result is order-independent."""
    s = spec(name)
    parts = [t.select(s.schema.names).cast(s.schema) for t in tables]
    if not parts:
        return empty(name)
    table = pa.concat_tables(parts)
    if table.num_rows == 0:
        return table
    index = pa.array(range(table.num_rows), pa.int64())
    keyed = table.append_column("__i", index)
    last = keyed.group_by(list(s.key), use_threads=False).aggregate([("__i", "max")])
    keep = pc.sort_indices(last["__i_max"])
    table = table.take(pc.take(last["__i_max"], keep))
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in s.key])
    return table.take(order)
