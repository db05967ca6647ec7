"""Reading the published layout into a new dataset: which sets, on which side; their images'
statistics; the imported test side of the split; when imported sets become the dataset's own."""

from __future__ import annotations

import numpy as np
import pytest

from hggt.core import manifests
from hggt.core.published_import import crop_position, describe_set, scan
from hggt.core.config import PatchConfig
from hggt.core.splits import imported_splits
from hggt.tasks.published_import import owns_imports

FILES = ("original", "01", "02", "03", "04")


def _paths(tree: str, rng: str, set_id: str, files=FILES) -> list[tuple[str, str]]:
    prefix = f"{tree}/" if tree else ""
    out = []
    for f in files:
        name = f"{set_id}.png" if f == "original" else f"{set_id}_{f}.png"
        rel = f"{prefix}images/{rng}/{f}/{name}"
        out.append((rel, f"/in/{rel}"))
    return out


def test_scan_finds_sides_ranges_and_names_what_is_wrong():
    files = [*_paths("Train", "0-2", "a-0-0"), *_paths("Train", "0-2", "b-0-0", FILES[:3] + FILES[4:]),
             *_paths("Test", "0-1", "c-0-0"), *_paths("", "0-1", "d-0-0"),
             *_paths("Train", "0-2", "e-0-0"), *_paths("Test", "0-1", "e-0-0"),
             ("Train/labels/0-2/A/a-0-0.json", "/in/x.json")]
    sets, problems = scan(files)
    assert {s: (p.side, p.range) for s, p in sets.items()} == {"a-0-0": ("train", "0-2"), "c-0-0": ("test", "0-1"), "d-0-0": (None, "0-1")}
    assert sets["a-0-0"].urls["03"] == "/in/Train/images/0-2/03/a-0-0_03.png"
    reasons = dict(problems)
    assert reasons["images/b-0-0"] == "set b-0-0 lacks its 03 image(s): no Train/images/0-2/03/b-0-0_03.png"
    assert "set e-0-0 is in more than one place" in reasons["images/e-0-0"]
    assert crop_position("a-288-576") == (288, 576) and crop_position("plain") == (0, 0)


def test_describe_set_records_what_patches_and_enhance_would():
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    images = {"original": original, **{v: np.clip(original.astype(int) + 10 * i, 0, 255).astype(np.uint8) for i, v in enumerate(FILES[1:])}}
    stats = describe_set(images, PatchConfig())
    assert stats.size == 32 and stats.diffs["01"] == 0 and stats.max_diff == pytest.approx(stats.diffs["04"]) and stats.diffs["04"] > 20
    assert set(stats.textures) == set(FILES) and stats.textures["original"][2]  # noise passes the texture test
    with pytest.raises(ValueError, match="03 is 32x16"):
        describe_set({**images, "03": original[:16]}, PatchConfig())


def test_imported_test_side_is_kept_and_its_photos_never_train():
    labels = [{"set_id": s, "effective_label": lab, "usable": True}
              for s, lab in (("p-0-0", "Positive"), ("p-0-288", "Similar"), ("q-0-0", "Negative"), ("t-0-0", "Similar"))]
    rows = {r["set_id"]: r["split"] for r in imported_splits(labels, {}, {"p-0-0", "t-0-0", "gone-0-0"})}
    assert rows == {"p-0-0": "test", "t-0-0": "test", "p-0-288": "excluded", "q-0-0": "train"}


def test_imported_sets_are_the_datasets_own_unless_it_has_photos(tmp_path):
    root = str(tmp_path / "ds")
    assert owns_imports(root)
    row = {"image_id": "p", "uri": "/in", "relpath": "x", "status": "published"}
    manifests.write(root, "images", manifests.to_table("images", [row]))
    assert owns_imports(root)
    manifests.write(root, "images", manifests.to_table("images", [row, {**row, "image_id": "photo", "status": "ok"}]))
    assert not owns_imports(root)
