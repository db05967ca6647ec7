"""fsspec storage: URL handling, atomic writes and content hashes.

Artifacts inside a dataset are addressed by paths relative to the dataset root (the published
HGGT layout), so a dataset can move between disk, ``memory://`` and ``s3://`` without rewriting
its manifests. Inputs outside the dataset keep their full URL.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import shutil
import uuid
from dataclasses import dataclass

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

TMP_MARK = ".hggt-tmp-"


def url_to_fs(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(url)


def normalize_root(url: str) -> str:
    """Absolute, protocol-qualified form of a folder URL without a trailing slash."""
    fs, path = url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        path = posixpath.normpath(path)
    return _unstrip(fs, path.rstrip("/") or "/")


def _unstrip(fs: fsspec.AbstractFileSystem, path: str) -> str:
    if isinstance(fs, LocalFileSystem):
        return path
    return fs.unstrip_protocol(path)


def join(root: str, *parts: str) -> str:
    if "://" in root:
        protocol, rest = root.split("://", 1)
        return protocol + "://" + posixpath.join(rest, *parts)
    return posixpath.join(root, *parts)


def resolve(root: str, uri: str) -> str:
    """A manifest URI made openable: relative URIs are taken from the dataset root."""
    if "://" in uri or uri.startswith("/"):
        return uri
    return join(root, uri)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(url: str) -> bytes:
    fs, path = url_to_fs(url)
    return fs.cat_file(path)


def exists(url: str) -> bool:
    fs, path = url_to_fs(url)
    return fs.exists(path)


def holds(url: str, sha256: str) -> bool:
    """Whether ``url`` exists with exactly the content whose SHA-256 is ``sha256`` (a recorded or
    copied file that is still the one recorded)."""
    return exists(url) and sha256_bytes(read_bytes(url)) == sha256


def remove(url: str) -> None:
    fs, path = url_to_fs(url)
    if fs.exists(path):
        fs.rm_file(path)


def size(url: str) -> int | None:
    fs, path = url_to_fs(url)
    try:
        return int(fs.info(path)["size"])
    except FileNotFoundError:
        return None


class StorageWriteError(OSError):
    """A write that failed; nothing partial was left under the final name."""


@dataclass(frozen=True)
class Written:
    sha256: str
    size: int


def atomic_write(url: str, data: bytes) -> Written:
    """Write ``data`` so that ``url`` either holds all of it or does not change.

    Local and in-memory files are written under a temporary name in the same folder, then
    renamed. Object stores (s3, gcs, ...) publish an object only when its upload completes, so
    they are written directly.
    """
    fs, path = url_to_fs(url)
    parent = posixpath.dirname(path)
    try:
        if isinstance(fs, LocalFileSystem):
            _local_atomic_write(path, data)
        elif isinstance(fs, MemoryFileSystem):
            if parent:
                fs.makedirs(parent, exist_ok=True)
            tmp = posixpath.join(parent, f"{TMP_MARK}{uuid.uuid4().hex}-{posixpath.basename(path)}")
            try:
                fs.pipe_file(tmp, data)
                fs.mv(tmp, path)
            finally:
                if fs.exists(tmp):
                    fs.rm_file(tmp)
        else:
            fs.pipe_file(path, data)
    except OSError as exc:
        raise StorageWriteError(
            exc.errno, f"cannot write {url}: {exc.strerror or exc}. Check that the destination exists, is writable "
            "and has free space; finished work is kept, so re-run once it is fixed"
        ) from exc
    return Written(sha256=sha256_bytes(data), size=len(data))


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def check_destination(url: str, needed: int = 0, what: str = "this stage") -> None:
    """Refuse to start work whose output could not be kept: ``url`` (a folder, created if missing)
    must accept a file, and a local one must have ``needed`` bytes free. Raises StorageWriteError
    naming the folder, the cause and what to do, before anything is computed."""
    probe = join(url, f"{TMP_MARK}probe-{uuid.uuid4().hex}")
    try:
        fs, path = url_to_fs(probe)
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        fs.pipe_file(path, b"")
        fs.rm_file(path)
    except OSError as exc:
        raise StorageWriteError(exc.errno, f"cannot write to {url}: {exc.strerror or exc}. Make it writable (or choose "
                                "another --out) before running " + what + "; nothing was computed") from exc
    if needed > 0 and isinstance(fs, LocalFileSystem):
        free = shutil.disk_usage(posixpath.dirname(path)).free
        if free < needed:
            raise StorageWriteError(errno.ENOSPC, f"not enough free space at {url} for {what}: it needs about "
                                    f"{_human(needed)}, {_human(free)} is free. Free some space (or choose another --out) "
                                    "and run it again; nothing was computed")


_made_dirs: set[str] = set()


def _local_atomic_write(path: str, data: bytes) -> None:
    """The local case with plain os calls: a fraction of fsspec's per-call cost, which counts when
    every item writes a small record."""
    parent = os.path.dirname(path)
    if parent not in _made_dirs:
        os.makedirs(parent, exist_ok=True)
        _made_dirs.add(parent)
    tmp = os.path.join(parent, f"{TMP_MARK}{uuid.uuid4().hex}-{os.path.basename(path)}")
    try:
        try:
            f = open(tmp, "wb")
        except FileNotFoundError:  # the folder was removed since we made it
            os.makedirs(parent, exist_ok=True)
            f = open(tmp, "wb")
        with f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def link_or_write(src: str, dst: str, data: bytes | None = None) -> bool:
    """Put the file ``src`` at ``dst``: a hard link where both are local on one filesystem (no
    second copy of large image trees), else the bytes (``data`` when already read). Atomic either
    way; True when linked."""
    if "://" not in src and "://" not in dst:
        parent = os.path.dirname(dst)
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f"{TMP_MARK}{uuid.uuid4().hex}-{os.path.basename(dst)}")
        try:
            os.link(src, tmp)
            os.replace(tmp, dst)  # a reader never sees the file missing
            return True
        except OSError:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    atomic_write(dst, read_bytes(src) if data is None else data)
    return False


def remove_temporaries(folder: str) -> int:
    """Delete half-written files that a killed process left in ``folder`` (call when no write is in flight)."""
    fs, path = url_to_fs(folder)
    try:
        names = fs.ls(path, detail=False)
    except FileNotFoundError:
        return 0
    stale = [p for p in names if posixpath.basename(p.rstrip("/")).startswith(TMP_MARK)]
    for p in stale:
        fs.rm_file(p)
    return len(stale)


@dataclass(frozen=True)
class ListedFile:
    url: str
    relpath: str
    size: int
    ukey: str


def list_files(url: str, extensions: tuple[str, ...]) -> list[ListedFile]:
    """Files under a folder, matching a glob, or a single file, filtered by extension, sorted."""
    fs, path = url_to_fs(url)
    if any(ch in path for ch in "*?["):
        base = path.split("*")[0].split("?")[0].split("[")[0].rsplit("/", 1)[0]
        infos = fs.glob(path, detail=True)
    elif fs.isfile(path):
        base = posixpath.dirname(path)
        infos = {path: fs.info(path)}
    elif fs.isdir(path):
        base = path.rstrip("/")
        infos = fs.find(path, detail=True)
    else:
        raise FileNotFoundError(f"input {url!r} is neither a file, a folder nor a glob that matches anything")
    wanted = tuple(e.lower() for e in extensions)
    out = []
    for p, info in infos.items():
        if info.get("type", "file") != "file":
            continue
        name = posixpath.basename(p)
        if name.startswith(TMP_MARK) or not name.lower().endswith(wanted):
            continue
        rel = posixpath.relpath(p, base) if base else p
        out.append(ListedFile(url=_unstrip(fs, p), relpath=rel, size=int(info.get("size") or 0), ukey=_ukey(fs, p, info)))
    return sorted(out, key=lambda f: f.relpath)


def _ukey(fs: fsspec.AbstractFileSystem, path: str, info: dict) -> str:
    """A cheap fingerprint that changes when the file changes (size + mtime or ETag)."""
    stamp = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("created") or info.get("LastModified")
    return f"{info.get('size')}:{stamp}"
