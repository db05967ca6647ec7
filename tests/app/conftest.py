"""A real annotation app on 127.0.0.1 over a store of synthetic sets."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from hggt.app.server import create_app
from hggt.core.annotation.assignment import assign, display_order, plan_repeats
from hggt.core.annotation.store import AnnotationStore
from hggt.core.images import encode_png
from tests.photos import textured

FILES = ("original", "01", "02", "03", "04")


def make_store(folder: Path, sets: int, annotators: list[str], per_set: int, size: tuple[int, int] = (24, 32),
               repeat_share: float = 0.0, repeat_gap: int = 2, versions: tuple[str, ...] = FILES[1:],
               counts: list[int] | None = None) -> tuple[AnnotationStore, dict[str, str]]:
    """``counts``: set i has counts[i] versions (named 01, 02, ...) instead of ``versions``."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(sets):
        set_id = f"photo{i}-0-{i * 8}"
        if counts is not None:
            versions = tuple(f"{v + 1:02d}" for v in range(counts[i]))
        files = {}
        for j, f in enumerate(("original", *versions)):
            path = images / f"{set_id}_{f}.png"
            path.write_bytes(encode_png(textured(*size, seed=100 * i + j)))
            files[f] = str(path)
        rows.append({"set_id": set_id, "display_order": display_order(set_id, 0, versions), "images": files})
    store = AnnotationStore(folder / "annotation" / "votes.sqlite")
    assignments = assign([r["set_id"] for r in rows], annotators, per_set, 1000, 0)
    tokens = store.create(rows, assignments, plan_repeats(assignments, repeat_share, repeat_gap, 0), {"min_seconds": 3.0})
    return store, tokens


class Server:
    def __init__(self, store: AnnotationStore, **options):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(store, **options), host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def app_server(tmp_path):
    store, tokens = make_store(tmp_path, sets=6, annotators=["alice", "bob", "carol"], per_set=2)
    with Server(store) as server:
        yield server, store, tokens
