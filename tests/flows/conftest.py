"""Flow tests run real flows against one Prefect test server for the whole session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.photos import encode, png16, textured

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def run_cli(prefect_server):
    """Run `hggt ...` in a new process against the session's Prefect server."""

    def run(*args: str, check: bool = True, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
        env = {**(env or os.environ), "PREFECT_API_URL": prefect_server, "COLUMNS": "200"}
        proc = subprocess.run(
            [sys.executable, "-m", "hggt.cli.main", *args], cwd=REPO, env=env, capture_output=True, text=True, **kwargs
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"hggt {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


def write_good_photos(folder: Path, count: int = 4, size: tuple[int, int] = (300, 420)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"photo{i}.png").write_bytes(encode(textured(size[0] + 13 * i, size[1] - 11 * i, seed=i), "PNG"))


@pytest.fixture
def mixed_photos(tmp_path) -> Path:
    """Good photos in several formats and modes, plus one of every kind of bad input."""
    folder = tmp_path / "photos"
    write_good_photos(folder, count=2)
    rgb = textured(260, 330, seed=20)
    (folder / "nested").mkdir()
    (folder / "nested" / "jpeg photo.JPG").write_bytes(encode(rgb, "JPEG", quality=92))
    (folder / "gray.jpeg").write_bytes(encode(Image.fromarray(rgb[..., 1], "L"), "JPEG", quality=95))
    (folder / "lossless.webp").write_bytes(encode(rgb[:, ::-1], "WEBP", lossless=True))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])
    (folder / "alpha.tif").write_bytes(encode(Image.fromarray(rgba, "RGBA"), "TIFF"))
    (folder / "deep.png").write_bytes(png16(rgb.astype(np.uint16) * 257))
    (folder / "photo.bmp").write_bytes(encode(rgb, "BMP"))
    good = bytearray(encode(rgb, "PNG"))
    good[200:400] = bytes(200)  # damaged image data behind an intact header
    (folder / "corrupt.png").write_bytes(bytes(good))
    (folder / "truncated.jpg").write_bytes(encode(rgb, "JPEG", quality=90)[:2000])
    (folder / "not-an-image.jpeg").write_text("name,value\nfoo,1\n")
    (folder / "tiny.png").write_bytes(encode(textured(64, 90), "PNG"))
    (folder / "huge.png").write_bytes(encode(textured(700, 1500, seed=5), "PNG"))
    (folder / "copy-of-photo0.png").write_bytes((folder / "photo0.png").read_bytes())
    (folder / "readme.txt").write_text("not scanned")
    return folder


# Overrides that make enhancer training and enhancement take seconds in tests.
TINY = [
    "enhancers.pretrained=null", "enhancers.train.iterations=3", "enhancers.train.gt_size=32", "enhancers.train.batch_size=1",
    "enhancers.train.pool_size=2", "enhancers.train.checkpoint_every=2", "enhancers.train.discriminator_channels=8",
    "enhancers.train.deterministic=true", "enhancers.rcan.channels=8", "enhancers.rcan.blocks=1",
    "enhancers.elan.channels=12", "enhancers.elan.blocks=2", "enhance.tile=96", "enhance.overlap=8",
]

EXPECTED_REJECTS = {
    "corrupt": "corrupt",
    "truncated": "corrupt or truncated",
    "not-an-image": "not an image",
    "tiny": "too small: 90x64",
    "huge": "decompression bomb",
    "photo0": "duplicate: same content as image copy-of-photo0",
}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A dataset up to select with hand-made labels: a set with two positives and a negative, one
    with only a negative, one with only a positive, and an unusable one."""
    from hggt.flows.build_dataset import build_dataset_flow
    from hggt.core import manifests

    photos = tmp_path_factory.mktemp("photos")
    write_good_photos(photos, count=2, size=(200, 260))
    root = tmp_path_factory.mktemp("ds")
    build_dataset_flow(input=str(photos), out=str(root), preset="demo", overrides=[*TINY, "select.top_n=4"], until="select")
    sets = manifests.read(str(root), "sets").column("set_id").to_pylist()
    plan = {
        sets[0]: {"01": ("Positive", 3), "02": ("Positive", 2), "03": ("Negative", 2), "04": ("Similar", 1)},
        sets[1]: {"01": ("Similar", 1), "02": ("Similar", 2), "03": ("Similar", 3), "04": ("Negative", 3)},
        sets[2]: {"01": ("Positive", 2), "02": ("Similar", 2), "03": ("Similar", 1), "04": ("Similar", 3)},
        sets[3]: {"01": ("Similar", 1), "02": ("Similar", 3), "03": ("Similar", 2), "04": ("Similar", 1)},
    }
    rows = [{"set_id": s, "version": v, "effective_label": lab, "vote_count": n, "usable": s != sets[3], "source": "human"}
            for s, versions in plan.items() for v, (lab, n) in versions.items()]
    manifests.write(str(root), "labels", manifests.to_table("labels", rows))
    # Every set on the train side (no test sets): tests that need a held-out side write their own.
    from hggt.core.splits import assign_splits

    manifests.write(str(root), "splits", manifests.to_table("splits", assign_splits(rows, {}, 0, 0)))
    return root, sets


def latest_artifact(key: str):
    """The newest dashboard artifact with this key (fails naming the key when there is none)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50)
    assert found, f"no artifact {key}"
    return max(found, key=lambda a: a.created)
