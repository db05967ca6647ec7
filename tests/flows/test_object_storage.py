"""The demo pipeline with its dataset on s3:// (a local moto server on 127.0.0.1) writes the same
manifests as on local disk."""

from __future__ import annotations

import socket

import pytest

from hggt.flows.build_dataset import build_dataset_flow
from hggt.core import manifests
from tests.flows.conftest import TINY, write_good_photos

pytestmark = pytest.mark.slow
NAMES = ("images", "patches", "degradations", "enhancers", "enhanced", "sets", "set_images", "lr_test", "votes", "labels", "maps")


@pytest.fixture
def s3(monkeypatch, tmp_path):
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("HGGT_STATE_DIR", str(tmp_path / "state"))
    import fsspec

    fsspec.filesystem("s3", skip_instance_cache=True).mkdir("hggt")
    yield "s3://hggt"
    server.stop()


def test_the_demo_pipeline_on_s3_matches_local_disk(s3, tmp_path):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=2, size=(200, 260))
    local, remote = str(tmp_path / "local"), f"{s3}/dataset"
    for out in (local, remote):
        build_dataset_flow(input=str(photos), out=out, preset="demo", overrides=TINY)
    for name in NAMES:
        a, b = manifests.read(local, name), manifests.read(remote, name)
        if name == "enhancers":
            a, b = a.drop_columns(["seconds"]), b.drop_columns(["seconds"])
        assert a.equals(b), name
