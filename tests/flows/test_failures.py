"""Failing writes stop with a clear error and leave no partial file; transient storage errors are
retried with backoff, permanent ones are not."""

from __future__ import annotations

import builtins
import errno
import threading

import pytest

from hggt.flows.patches import patches_flow
from hggt.flows.ingest import ingest_flow
from hggt.core import manifests, storage
from hggt.core.images import decode_png
from tests.flows.conftest import write_good_photos


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    write_good_photos(folder, count=2)
    return folder


def test_a_full_disk_stops_the_stage_cleanly_and_the_next_run_completes(photos, tmp_path, monkeypatch):
    reference = str(tmp_path / "reference")
    patches_flow(out=reference, input=str(photos), preset="demo")
    root = str(tmp_path / "ds")
    ingest_flow(input=str(photos), out=root, preset="demo")
    real_open = builtins.open
    writes = {"n": 0}

    class FullDisk:
        """Writes half of what it is given, then reports a full disk."""

        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    def disk_fills_up(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        if "/original/" in str(path) and storage.TMP_MARK in str(path):
            writes["n"] += 1
            if writes["n"] > 5:
                return FullDisk(f)
        return f

    monkeypatch.setattr(builtins, "open", disk_fills_up)
    with pytest.raises(Exception) as info:
        patches_flow(out=root, preset="demo")
    monkeypatch.undo()
    message = str(info.value)
    assert "cannot write" in message and "No space left on device" in message and "free space" in message
    originals = tmp_path / "ds" / "original"
    for path in originals.iterdir():
        assert not path.name.startswith(storage.TMP_MARK), "a partial file was left behind"
        decode_png(path.read_bytes())  # every file under a final name is complete
    patches_flow(out=root, preset="demo")
    assert manifests.read(root, "patches").equals(manifests.read(reference, "patches"))


def test_transient_errors_are_retried_and_permanent_ones_are_not(photos, tmp_path, monkeypatch):
    import hggt.tasks.ingest

    calls = {"n": 0}
    lock = threading.Lock()
    real = storage.read_bytes

    def flaky(url):
        if str(photos) not in str(url):
            return real(url)  # records and manifests
        with lock:
            calls["n"] += 1
            first = calls["n"] == 1
        if first:
            raise ConnectionResetError(errno.ECONNRESET, "connection reset by peer")
        return real(url)

    monkeypatch.setattr(hggt.tasks.ingest.storage, "read_bytes", flaky)
    summary = ingest_flow(input=str(photos), out=str(tmp_path / "a"), preset="demo", overrides=["ingest.shard_size=8"])
    assert summary["ok"] == 2 and calls["n"] == 3  # the failed attempt, then both images on the retry

    attempts = {"n": 0}

    def forbidden(url):
        if str(photos) not in str(url):
            return real(url)
        attempts["n"] += 1
        raise PermissionError(errno.EACCES, "Permission denied", url)

    monkeypatch.setattr(hggt.tasks.ingest.storage, "read_bytes", forbidden)
    with pytest.raises(ValueError, match=r"0 usable images .*\(2 rejected"):  # nothing left to build on
        ingest_flow(input=str(photos), out=str(tmp_path / "b"), preset="demo", overrides=["ingest.shard_size=8"])
    assert attempts["n"] == 2  # once per image, no retry: the rows say why
    assert all("unreadable: PermissionError" in r["reason"] for r in manifests.read(str(tmp_path / "b"), "images").to_pylist())
