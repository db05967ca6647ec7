"""Keep glibc from handing every decoded image back to the kernel.

By default glibc serves allocations over 128 KiB with fresh mmap() calls and trims the heap top
above 128 KiB, so each decoded photo, crop and filter buffer (megabytes) is page-faulted in anew
and returned on free. For hggt's work (many same-sized image buffers) that cost ~20% of ingest's
time per image (23 ms vs 18.5 ms on a 1024x768 PNG, issue 9). Raising both thresholds lets freed
buffers be reused from the heap. Buffers above 32 MiB (very large photos) are still mapped, so a
long run holds at most a few tens of MiB more than before.

Set in this process with mallopt() and, through the environment, in the processes it starts
(process-pool workers, torchrun ranks, a local Dask cluster), which read it at start-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest accepted value on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}


def tune_allocator() -> bool:
    """True when glibc accepted both settings; a no-op elsewhere or when the user set their own."""
    if not sys.platform.startswith("linux") or any(k in os.environ for k in ENV) or os.environ.get("HGGT_DEFAULT_MALLOC"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if not (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return False
    os.environ.update(ENV)
    return True
