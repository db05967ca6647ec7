"""Image-sized buffers are reused from the heap instead of being page-faulted in on every photo."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hggt.core.images import encode_png
from hggt.core.synthetic import photo

# Read and decode photos the way ingest does, counting the pages the kernel had to fault in.
PROBE = """
import json, os, resource, sys
from hggt.flows.startup import startup; startup()  # tunes the allocator unless HGGT_DEFAULT_MALLOC is set
from hggt.flows._allocator import ENV
from hggt.core import storage
from hggt.core.images import decode_image
paths = sys.argv[1:]
decode_image(storage.read_bytes(paths[0]), 10**9)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    for path in paths:
        decode_image(storage.read_bytes(path), 10**9)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults": faults, "env": {k: os.environ.get(k) for k in ENV}}))
"""


def probe(paths: list[str], **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "HGGT_DEFAULT_MALLOC"}
    out = subprocess.run([sys.executable, "-c", PROBE, *paths], env={**clean, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator")
def test_buffers_are_reused_and_child_processes_inherit_the_setting(tmp_path):
    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f"p{i}.png"))
        (tmp_path / f"p{i}.png").write_bytes(encode_png(photo(i), 1))
    decodes, photo_pages = 20, 1024 * 768 * 3 // 4096
    default, tuned = probe(paths, HGGT_DEFAULT_MALLOC="1"), probe(paths)
    # glibc's defaults map (and fault in) the decode buffers anew for nearly every photo
    assert default["faults"] >= decodes * photo_pages
    assert tuned["faults"] <= default["faults"] / 10
    assert tuned["env"] == {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}
    assert default["env"] == {"MALLOC_MMAP_THRESHOLD_": None, "MALLOC_TRIM_THRESHOLD_": None}
