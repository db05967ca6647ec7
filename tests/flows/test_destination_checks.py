"""A stage refuses to start when its output could not be kept (read-only destination, too little
free space), and shards that fail alike are reported once."""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections import namedtuple

import pytest

from hggt.flows.ingest import ingest_flow
from hggt.flows.patches import patches_flow
from hggt.flows.sharding import failure_message, preflight
from hggt.core import storage
from hggt.core.shard_engine import ShardWork
from tests.flows.conftest import write_good_photos


def _works(root: str, n: int = 8) -> list[ShardWork]:
    return [ShardWork(stage="maps", manifest="maps", root=root, shard_key=f"s{i}", config_hash="c", code_version="v",
                      items=tuple({"item_id": f"set{i}-{j}", "pairs": [1, 2]} for j in range(4))) for i in range(n)]


def test_too_little_free_space_is_refused_before_computing(tmp_path, monkeypatch):
    root = str(tmp_path / "ds")
    works = _works(root)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5_000_000, 5_000_000))
    with pytest.raises(storage.StorageWriteError, match=r"not enough free space at .*ds for `hggt maps`: it needs about "
                                                      r"6\.4 MB, 5\.0 MB is free.*nothing was computed") as info:
        preflight("maps", root, works, item_bytes=lambda item: 100_000 * len(item["pairs"]))  # 32 items x 200 kB
    assert info.value.errno == errno.ENOSPC
    # items already finished (their records written) need no room: 8 of 32 left, 1.6 MB
    records = tmp_path / "ds" / "manifests" / "parts" / "maps" / "items"
    records.mkdir(parents=True)
    for w in works[:6]:
        for item in w.items:
            (records / f"{item['item_id']}.json").write_text("{}")
    preflight("maps", root, works, item_bytes=lambda item: 100_000 * len(item["pairs"]))


def test_shards_failing_alike_are_one_error_with_what_was_kept(tmp_path):
    root = str(tmp_path / "ds")
    works = _works(root)
    records = tmp_path / "ds" / "manifests" / "parts" / "maps" / "items"
    records.mkdir(parents=True)
    (records / "set0-0.json").write_text("{}")
    full = [(i, storage.StorageWriteError(errno.ENOSPC, f"cannot write {root}/maps/set{i}-1/01_03.npz: No space left on device"))
            for i in range(7)]
    message = failure_message("maps", works, [*full, (7, ValueError("set7-0: unreadable image"))])
    lines = message.splitlines()
    assert lines[0] == ("8 of 8 maps shards failed; 1 of their 32 items were finished and are kept: fix the cause, then run the "
                        "same command again")
    assert len(lines) == 3 and lines[1].endswith("No space left on device (and 6 more shards with the same error)")
    assert lines[2] == "shard 7 (4 items, first set7-0): set7-0: unreadable image"


def test_a_read_only_destination_is_refused_before_any_item(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): the read-only check needs a real read-only filesystem")
    try:
        photos = tmp_path / "photos"
        write_good_photos(photos, count=2)
        root = str(mount / "ds")
        ingest_flow(input=str(photos), out=root, preset="demo")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(storage.StorageWriteError, match=r"cannot write to .*ds: Read-only file system.*nothing was computed"):
            patches_flow(out=root, preset="demo")
        assert not (mount / "ds" / "manifests" / "parts" / "patches").exists() and not (mount / "ds" / "original").exists()
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
