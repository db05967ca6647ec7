"""Every manifest schema round-trips through the installed pyarrow and pandas (the pins allow
pandas 2.2 to 3.x and pyarrow 17 to 26): rows written as hggt writes them come back equal read
by hggt, by pandas, and written again from a pandas DataFrame."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hggt.core import manifests
from hggt.core.catalog import is_uri_column
from hggt.core.dataset import open_dataset
from hggt.core.schemas import MANIFESTS


def _value(field: pa.Field, i: int):
    t = field.type
    if pa.types.is_string(t):
        return f"{field.name}-{i}-é"
    if pa.types.is_boolean(t):
        return i % 2 == 0
    if pa.types.is_integer(t):
        return (2**31 - 7 if t.bit_width == 32 else 2**53 + 3) - i
    if pa.types.is_floating(t):
        return 0.1 * (i + 1) + 1e-12
    if pa.types.is_timestamp(t):
        return dt.datetime(2026, 1, 2, 3, 4, 5, 678000 + i * 1000, tzinfo=dt.timezone.utc)
    raise AssertionError(f"no representative value for {field.name}: {t}")


def _rows(name: str) -> list[dict]:
    """Three rows; the last has every nullable column empty."""
    schema = MANIFESTS[name].schema
    rows = [{f.name: _value(f, i) for f in schema} for i in range(3)]
    rows[-1].update({f.name: None for f in schema if f.nullable})
    return rows


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_every_schema_round_trips_through_pyarrow_and_pandas(name, tmp_path):
    rows = _rows(name)
    data = manifests.table_bytes(name, manifests.to_table(name, rows))
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / f"{name}.parquet").write_bytes(data)
    assert manifests.read(str(tmp_path), name).to_pylist() == rows
    assert pq.read_table(io.BytesIO(data)).to_pylist() == rows
    # numpy_nullable: with numpy dtypes an int64 column holding a null turns float64 and loses
    # integers above 2**53 (byte counts, seeds); open_dataset's tables use the nullable dtypes too
    df = pd.read_parquet(io.BytesIO(data), dtype_backend="numpy_nullable")
    lib = open_dataset(str(tmp_path)).table(name)
    plain = [c for c in df.columns if not is_uri_column(c)]
    values = lambda frame, c: [None if pd.isna(v) else v for v in frame[c]]  # noqa: E731
    assert all(values(lib, c) == values(df, c) == [r[c] for r in rows] for c in plain)
    assert list(df.columns) == MANIFESTS[name].schema.names and len(df) == 3
    for column in df.columns:
        assert df[column].isna().tolist() == [r[column] is None for r in rows], column
    # a DataFrame written back (as a notebook would) is a manifest hggt reads, with equal rows
    back = pa.Table.from_pandas(df, schema=MANIFESTS[name].schema, preserve_index=False)
    manifests.write(str(tmp_path), name, back)
    assert manifests.read(str(tmp_path), name).to_pylist() == rows
