"""Manifests (schemas, round trips, merging) and fsspec storage (atomic writes)."""

import io
import uuid

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hggt.core import manifests, storage
from hggt.core.schemas import MANIFESTS


@pytest.fixture(params=["local", "memory"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "ds")
    return f"memory://test-{uuid.uuid4().hex}"


def _patch_row(i, **kw):
    row = {
        "patch_id": f"img-{i}-0", "image_id": "img", "row": i, "col": 0, "size": 512, "gray_std": 31.5 + i,
        "lap_var": 40.25, "texture_ok": True, "uri": f"original/img-{i}-0.png", "sha256": "ab" * 32, "bytes": 1000 + i,
    }
    return {**row, **kw}


def test_every_manifest_has_a_versioned_schema_and_a_key():
    for name, spec in MANIFESTS.items():
        assert spec.version >= 1 and set(spec.key) <= set(spec.schema.names), name


def test_round_trip_keeps_rows_types_and_version(root):
    rows = [_patch_row(i) for i in range(5)]
    manifests.write(root, "patches", manifests.to_table("patches", rows))
    table = manifests.read(root, "patches")
    assert table.to_pylist() == rows
    assert table.schema.field("row").type == pa.int32()
    raw = pq.read_table(io.BytesIO(storage.read_bytes(manifests.manifest_url(root, "patches"))))
    assert raw.schema.metadata[b"hggt.schema_version"] == str(MANIFESTS["patches"].version).encode()


def test_same_rows_give_identical_bytes():
    a = manifests.table_bytes("patches", manifests.to_table("patches", [_patch_row(1), _patch_row(2)]))
    b = manifests.table_bytes("patches", manifests.to_table("patches", [_patch_row(1), _patch_row(2)]))
    assert a == b


def test_reading_a_missing_or_foreign_manifest_says_what_to_run(root):
    with pytest.raises(manifests.ManifestError, match="run `hggt patches` first"):
        manifests.read(root, "patches")
    table = manifests.to_table("images", [])
    storage.atomic_write(manifests.manifest_url(root, "patches"), manifests.table_bytes("images", table))
    with pytest.raises(manifests.ManifestError, match="expects patches v1"):
        manifests.read(root, "patches")
    storage.atomic_write(manifests.manifest_url(root, "patches"), b"PAR1 garbage")
    with pytest.raises(manifests.ManifestError, match="unreadable"):
        manifests.read(root, "patches")


def test_missing_required_values_are_refused():
    with pytest.raises((pa.ArrowInvalid, ValueError)):
        manifests.table_bytes("patches", manifests.to_table("patches", [_patch_row(1, patch_id=None)]))


def test_merge_keeps_the_last_row_per_key_and_sorts():
    first = manifests.to_table("patches", [_patch_row(3), _patch_row(1)])
    second = manifests.to_table("patches", [_patch_row(1, gray_std=99.0), _patch_row(2)])
    merged = manifests.merge("patches", [first, second])
    assert merged.column("patch_id").to_pylist() == ["img-1-0", "img-2-0", "img-3-0"]
    assert merged.column("gray_std").to_pylist()[0] == 99.0
    assert manifests.merge("patches", [second, first]).column("gray_std").to_pylist()[0] == 32.5


def test_atomic_write_replaces_whole_files(root):
    url = storage.join(root, "sub", "a.bin")
    w = storage.atomic_write(url, b"x" * 1000)
    assert storage.read_bytes(url) == b"x" * 1000 and w.size == 1000 and w.sha256 == storage.sha256_bytes(b"x" * 1000)
    storage.atomic_write(url, b"y")
    assert storage.read_bytes(url) == b"y"
    fs, path = storage.url_to_fs(storage.join(root, "sub"))
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)] == ["a.bin"]


class _HalfWriter:
    """A file object that writes ten bytes, then the process is 'killed'."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        self.f.write(data[:10])
        raise KeyboardInterrupt("killed mid-write")


@pytest.mark.parametrize("fail_at", ["write", "rename"])
def test_interrupted_write_leaves_no_final_file_and_keeps_the_old_one(root, monkeypatch, fail_at):
    import builtins
    import os

    url = storage.join(root, "b.bin")
    other = storage.join(root, "c.bin")
    storage.atomic_write(other, b"old")
    fs, _ = storage.url_to_fs(url)
    if root.startswith("memory://"):
        name = "pipe_file" if fail_at == "write" else "mv"
        original = getattr(type(fs), name)

        def crash(self, path, *args, **kwargs):
            if name == "pipe_file":
                original(self, path, args[0][:10], **kwargs)  # half a file reaches storage, then the crash
            raise KeyboardInterrupt("killed mid-write")

        monkeypatch.setattr(type(fs), name, crash)
    elif fail_at == "write":
        real_open = builtins.open
        monkeypatch.setattr(builtins, "open", lambda p, mode="r", *a, **k: _HalfWriter(real_open(p, mode, *a, **k))
                            if storage.TMP_MARK in str(p) else real_open(p, mode, *a, **k))
    else:
        def no_rename(*args, **kwargs):
            raise KeyboardInterrupt("killed before the rename")

        monkeypatch.setattr(os, "replace", no_rename)
    for target in (url, other):
        with pytest.raises(KeyboardInterrupt):
            storage.atomic_write(target, b"new content " * 100)
    monkeypatch.undo()
    assert not storage.exists(url)
    assert storage.read_bytes(other) == b"old"
    fs, path = storage.url_to_fs(root)
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)) == ["c.bin"]


def test_list_files_filters_extensions_and_skips_temporaries(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["b.PNG", "a.jpg", "sub/c.webp", "notes.txt", f"{storage.TMP_MARK}x-d.png"]:
        (tmp_path / name).write_bytes(b"1")
    files = storage.list_files(str(tmp_path), (".png", ".jpg", ".webp"))
    assert [f.relpath for f in files] == ["a.jpg", "b.PNG", "sub/c.webp"]
    assert [f.relpath for f in storage.list_files(str(tmp_path / "*.jpg"), (".jpg",))] == ["a.jpg"]
    with pytest.raises(FileNotFoundError, match="neither a file"):
        storage.list_files(str(tmp_path / "missing"), (".png",))


def test_resolve_keeps_absolute_urls_and_joins_relative_ones():
    assert storage.resolve("memory://ds", "original/a.png") == "memory://ds/original/a.png"
    assert storage.resolve("/data/ds", "s3://bucket/a.png") == "s3://bucket/a.png"
    assert storage.resolve("/data/ds", "/elsewhere/a.png") == "/elsewhere/a.png"
    assert storage.normalize_root("/data/x/../ds/") == "/data/ds"
    assert fsspec.core.url_to_fs(storage.normalize_root("memory://ds/"))[1] == "/ds"


def test_an_older_manifest_with_fewer_columns_is_read_with_them_empty(root, monkeypatch):
    from hggt.core import schemas

    current = MANIFESTS["metrics"]
    older = schemas.ManifestSpec("metrics", current.version - 1, current.key,
                                 pa.schema([f for f in current.schema if f.name != "artifact_rate"]), current.produced_by)
    row = {"run_id": "r", "test_set": "t", "set_id": "s", "gt_version": "01", "psnr": 20.0, "ssim": 0.5, "sr_uri": "x.png"}
    monkeypatch.setitem(MANIFESTS, "metrics", older)
    manifests.write(root, "metrics", manifests.to_table("metrics", [row]))
    monkeypatch.setitem(MANIFESTS, "metrics", current)
    table = manifests.read(root, "metrics")
    assert table.column("artifact_rate").to_pylist() == [None] and table.column("psnr").to_pylist() == [20.0]


def test_a_process_that_read_manifests_exits_cleanly(tmp_path):
    # Parquet read from a buffer wrapping a Python object aborted the interpreter at exit in about
    # half the runs under load (pyarrow 23): every hggt command reads manifests, so each would too.
    import subprocess
    import sys

    manifests.write_table(str(tmp_path / "images.parquet"), "images", manifests.empty("images"))
    code = f"from hggt.core import manifests; manifests.read_table({str(tmp_path / 'images.parquet')!r}, 'images').to_pylist()"
    codes = [subprocess.run([sys.executable, "-c", code], capture_output=True).returncode for _ in range(8)]
    assert codes == [0] * 8
