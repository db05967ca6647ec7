"""An enhancer hggt does not train here (a declared model file, or a ready one adopted as trained)
is copied into the dataset beside the trained ones, so that the dataset is self-contained: the
enhance stage reads it there and checks its SHA-256."""

from __future__ import annotations

from hggt.core import catalog, storage


def keep_enhancer(data: bytes, root: str, version: str, suffix: str = ".pt") -> tuple[str, str, bool]:
    """Write the model file ``data`` to enhancer ``version``'s catalog path unless the dataset
    already holds exactly it (a re-run rewrites nothing); returns its URI, its SHA-256 and whether
    it was held."""
    uri = catalog.enhancer_model(version, suffix)
    sha = storage.sha256_bytes(data)
    target = storage.resolve(root, uri)
    held = storage.holds(target, sha)
    if not held:
        storage.atomic_write(target, data)
    return uri, sha, held
