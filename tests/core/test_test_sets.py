"""Layout detection of external test folders and BasicSR's handling of sizes that are not a
multiple of the scale."""

from __future__ import annotations

import numpy as np
import pytest

from hggt.core.evaluation import dataset_test_set_name, on_train_sets, train_sets_problem
from hggt.core.test_sets import GT_ONLY, PAIRED, PUBLISHED, LayoutError, detect_layout, gt_for_lq, mod_crop, pair_names


def test_layouts_are_told_apart_and_an_unknown_one_names_the_folder():
    assert detect_layout("T", ["images/0001-0100/original/x.png", "labels/0001-0100/A/x.json", "stray.png"]) == PUBLISHED
    assert detect_layout("S", ["GT/baby.png", "LQ/baby.png", "readme.png"]) == PAIRED
    assert detect_layout("S", ["gt/baby.png", "lq/baby.png"]) == PAIRED
    assert detect_layout("G", ["baby.png", "bird.PNG"]) == GT_ONLY
    assert detect_layout("G", ["GT/baby.png", "bird.png"]) == GT_ONLY  # GT/ without LQ/ is not a pair
    with pytest.raises(LayoutError, match=r"'/data/odd' matches none of the three layouts.*found: a/b/c.png"):
        detect_layout("/data/odd", ["a/b/c.png"])
    with pytest.raises(LayoutError, match="no PNG or JSON files"):
        detect_layout("/data/empty", [])


def test_pairs_report_each_side_without_the_other():
    names, problems = pair_names(["a.png", "b.png", "d.png"], ["a.png", "b.png", "orphan.png"])
    assert names == ["a.png", "b.png"]
    assert problems == [("orphan.png", "LQ/orphan.png has no GT/orphan.png: skipped"), ("d.png", "GT/d.png has no LQ/d.png: skipped")]


def test_mod_crop_and_gt_crop_follow_basicsr():
    img = np.arange(35 * 30 * 3).reshape(35, 30, 3)
    np.testing.assert_array_equal(mod_crop(img, 4), img[:32, :28])  # BasicSR: img[:h - h % s, :w - w % s]
    assert mod_crop(img[:32, :28], 4).shape == (32, 28, 3)
    np.testing.assert_array_equal(gt_for_lq(img, (8, 7, 3), 4), img[:32, :28])  # img_gt[0:h_lq * s, 0:w_lq * s]
    with pytest.raises(ValueError, match=r"GT 30x35 is not 4x its LQ 8x8"):
        gt_for_lq(img, (8, 8, 3), 4)
    with pytest.raises(ValueError, match="wrong size ratio"):
        gt_for_lq(img, (9, 7, 3), 4)  # GT smaller than 4 x LQ


def test_held_out_check_and_the_names_that_mark_training_sets():
    assert train_sets_problem("r", "f1", "f1", "test") is None
    assert "trained before" in train_sets_problem("r", None, "f1", "test")
    assert "another split (fingerprint f0)" in train_sets_problem("r", "f0", "f1", "test")
    assert "train side" in train_sets_problem("r", "f1", "f1", "train")
    assert dataset_test_set_name("test", False) == "dataset" and not on_train_sets("dataset")
    assert dataset_test_set_name("train", True) == "dataset-train-sets" and on_train_sets("dataset-train-sets")
    assert dataset_test_set_name("test", True) == "dataset-test-train-sets" and on_train_sets("dataset-test-train-sets")
