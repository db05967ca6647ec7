"""How the annotation store names a set's image files: relative to the dataset root, so that a
copied or moved dataset (cp -a, mv, a copy to object storage) serves its own files; a file outside
the dataset (a published set referenced where it lies) keeps its full path or URL.

Databases of store version 0 hold absolute paths. They are rewritten once, on open (see
store_db.upgrade), by :func:`relocate`; nothing here touches the database itself. Pure string and
os.path work: the app's server imports this without fsspec.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping


class EscapesRoot(ValueError):
    """A stored relative path that leads out of the dataset root (a damaged or hand-edited database)."""


def _local(url: str) -> str | None:
    """A local path in normal form, or None for a URL of another filesystem."""
    url = url.removeprefix("file://")
    return None if "://" in url else os.path.normpath(os.path.abspath(url))


def is_stored_relative(stored: str) -> bool:
    return "://" not in stored and not stored.startswith("/")


def inside(root: str, url: str) -> str | None:
    """``url``'s path relative to ``root`` when it lies inside it, else None."""
    base, path = _local(root), _local(url)
    if base is None or path is None:  # object storage: plain prefixes, as storage.join builds them
        base, path = root.rstrip("/"), url
        return path[len(base) + 1:] if path.startswith(base + "/") else None
    if path == base or not path.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return os.path.relpath(path, base).replace(os.sep, "/")


def stored_form(root: str, url: str) -> str:
    """What the store records for ``url``: its path relative to the root, or ``url`` itself
    for a file outside the dataset."""
    if is_stored_relative(url):
        return url
    rel = inside(root, url)
    return url if rel is None else rel


def resolve(root: str, stored: str) -> str:
    """The file a stored name stands for, taken from ``root``; EscapesRoot for a relative name
    that would leave it (``..``), so no database can make the app read outside its dataset."""
    if not is_stored_relative(stored):
        return stored
    rel = posixpath.normpath(stored)
    if rel == ".." or rel.startswith("../") or rel == ".":
        raise EscapesRoot(stored)
    return f"{root.rstrip('/')}/{rel}"


def _old_root(root: str, path: str) -> str | None:
    """The folder that was the dataset root when ``path`` was recorded: the ancestor whose
    remainder is a file of ``root`` now, the longest such remainder first (the least ambiguous)."""
    parts = path.strip("/").split("/")
    for i in range(len(parts)):
        if os.path.isfile(os.path.join(root, *parts[i:])):
            return "/" + "/".join(parts[:i])
    return None


def relocate(root: str, images: Mapping[str, Mapping[str, str]], tries: int = 3) -> dict[str, dict[str, str]]:
    """Version-0 entries (absolute) as version-1 ones (relative). A path inside ``root`` becomes
    relative to it; one inside a former root (the dataset was copied or moved) relative to that.
    A former root is found per folder of files (a campaign may have been exported from two
    places), from one of its files (``tries`` at most) that ``root`` holds at the same place
    below; folders none of whose files it holds are left as recorded: files outside the dataset."""
    base = _local(root)
    found: dict[str, str | None] = {}
    if base is not None:
        folders: dict[str, list[str]] = {}
        for files in images.values():
            for url in files.values():
                path = _local(url) if not is_stored_relative(url) else None
                if path is not None and inside(base, path) is None:
                    folders.setdefault(os.path.dirname(path), []).append(path)
        for folder, paths in folders.items():
            found[folder] = next((r for r in (_old_root(base, p) for p in paths[:tries]) if r is not None), None)

    def moved(url: str) -> str:
        rel = stored_form(root, url)
        path = _local(url) if rel == url and not is_stored_relative(url) else None
        old = found.get(os.path.dirname(path)) if path else None
        return (inside(old, path) or url) if old else rel

    return {key: {f: moved(u) for f, u in files.items()} for key, files in images.items()}
