"""evaluate, compare and report end to end on tiny trained models."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from flows.degrade import synthesize_lr_flow
from flows.evaluate import compare_flow, evaluate_flow
from flows.report import report_flow
from flows.train_sr import train_sr_flow
from hggt_core import manifests, storage
from hggt_core.annotation.published import format_label_file
from hggt_core.images import decode_png
from hggt_core.metrics import multi_gt_average, ssim
from tests.flows.test_train_sr_stage import SR_TINY


@pytest.fixture(scope="module")
def evaluated(labelled, tmp_path_factory):
    src, sets = labelled
    root = tmp_path_factory.mktemp("eval") / "ds"
    shutil.copytree(src, root)
    synthesize_lr_flow(input=str(root), out=str(root), preset="demo")
    psnr_run = train_sr_flow(out=str(root), arch="rrdb", mode="psnr", preset="demo", overrides=SR_TINY)["run_id"]
    pos_run = train_sr_flow(out=str(root), arch="rrdb", mode="pos", preset="demo", overrides=SR_TINY)["run_id"]
    summary = evaluate_flow(out=str(root), run_id=psnr_run, preset="demo", overrides=SR_TINY)
    evaluate_flow(out=str(root), run_id="latest", preset="demo", overrides=SR_TINY)  # the pos run, trained last
    return root, sets, psnr_run, pos_run, summary


def _png(root, uri):
    return decode_png(storage.read_bytes(storage.resolve(str(root), uri)))


def test_every_positive_gt_is_scored_and_sets_without_one_are_reported(evaluated):
    root, sets, psnr_run, _, summary = evaluated
    rows = [r for r in manifests.read(str(root), "metrics").to_pylist() if r["run_id"] == psnr_run]
    assert {(r["set_id"], r["gt_version"]) for r in rows} == {(sets[0], "01"), (sets[0], "02"), (sets[2], "01")}
    assert summary["unscored"] == 2 and {s for s, _ in summary["reasons"]} == {sets[1], sets[3]}
    images = {(r["set_id"], r["file"]): r["uri"] for r in manifests.read(str(root), "set_images").to_pylist()}
    for r in rows:
        sr, gt = _png(root, r["sr_uri"]), _png(root, images[(r["set_id"], r["gt_version"])])
        assert sr.shape == gt.shape
        assert r["psnr"] == pytest.approx(peak_signal_noise_ratio(gt[4:-4, 4:-4], sr[4:-4, 4:-4], data_range=255))
        assert r["ssim"] == pytest.approx(ssim(sr, gt)) and r["lpips"] is None and r["dists"] is None
        assert (r["artifact_rate"] is not None) == (r["set_id"] == sets[0])  # only sets[0] has an annotated negative
        assert r["artifact_rate"] is None or 0.0 <= r["artifact_rate"] <= 1.0
    assert summary["PSNR"] == pytest.approx(multi_gt_average(rows, ("psnr",))["psnr"])
    assert summary["skipped_metrics"] == ["dists", "lpips"]
    table = (root / "reports" / "table3-dataset.md").read_text()
    assert "RRDB-PSNR" in table and "RRDB-GAN" in table and "22.2378" in table and "LPIPS skipped" in table
    assert (root / "reports" / "table3-dataset.csv").read_text().startswith("model,training GT,run,images,PSNR")
    assert {r["run_id"] for r in manifests.read(str(root), "metrics").to_pylist()} == {psnr_run, evaluated[3]}


def test_a_published_test100_folder_can_be_the_test_set(evaluated, tmp_path):
    root, sets, psnr_run, _, _ = evaluated
    folder = tmp_path / "Test-100"
    images = {(r["set_id"], r["file"]): r["uri"] for r in manifests.read(str(root), "set_images").to_pylist()}
    for set_id in (sets[0], sets[2]):
        for f in ("original", "01", "02", "03", "04"):
            dest = folder / "images" / "0001-0100" / f / (f"{set_id}.png" if f == "original" else f"{set_id}_{f}.png")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / images[(set_id, f)], dest)
        for annotator in "ABC":
            labels = {"01": "Positive", "02": "Similar", "03": "Negative", "04": "Similar"}
            when = dt.datetime(2023, 1, 1)
            path = folder / "labels" / "0001-0100" / annotator / f"{set_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(format_label_file(set_id, labels, ["01", "02", "03", "04"], when, when, 1.0))
    summary = evaluate_flow(out=str(root), run_id=psnr_run, test_set=str(folder), preset="demo", overrides=SR_TINY)
    rows = [r for r in manifests.read(str(root), "metrics").to_pylist() if r["test_set"] == summary["test_set"]]
    assert summary["test_set"].startswith("Test-100-") and {(r["set_id"], r["gt_version"]) for r in rows} == {(sets[0], "01"), (sets[2], "01")}
    ours = {(r["set_id"], r["gt_version"]): r["psnr"] for r in manifests.read(str(root), "metrics").to_pylist()
            if r["test_set"] == "dataset" and r["run_id"] == psnr_run}
    for r in rows:  # the external LR is made the way `hggt synthesize-lr` makes it, so the SR is the same
        assert r["psnr"] == pytest.approx(ours[(r["set_id"], r["gt_version"])])


def test_compare_writes_side_by_side_grids(evaluated):
    root, sets, psnr_run, pos_run, _ = evaluated
    result = compare_flow(out=str(root), runs=[psnr_run, pos_run], images=2)
    assert result["images"] == 2
    grid = _png(root, result["files"][0])
    assert grid.shape[1] > 4 * 64 and grid.dtype == np.uint8  # bicubic, two runs and at least one GT
    with pytest.raises(Exception, match="no evaluation"):
        compare_flow(out=str(root), runs=[psnr_run, "rrdb-ori-nothere"])


def test_report_is_one_self_contained_file_with_every_section(evaluated):
    root, sets, psnr_run, _, _ = evaluated
    report_flow(out=str(root))
    page = Path(root, "reports", "dataset.html").read_text()
    for section in ("Counts per stage", "Stage runs", "Rejected and unscored items", "Labels and agreement", "Example sets",
                    "Indication maps", "Table 3 on test set dataset", psnr_run):
        assert section in page, section
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    assert page.count("<figure>") == 5 * 3  # three usable sets, five images each


def test_export_a_run_and_an_enhancer(evaluated):
    import onnxruntime as ort
    import torch
    from safetensors.torch import load

    from flows.export import export_flow

    root, _, psnr_run, _, _ = evaluated
    st = export_flow(out=str(root), run_id=psnr_run, fmt="safetensors")
    tensors = load(storage.read_bytes(st["file"]))
    assert "conv_first.weight" in tensors and "body.0.rdb1.conv1.weight" in tensors
    onnx = export_flow(out=str(root), run_id="latest", fmt="onnx")
    session = ort.InferenceSession(storage.read_bytes(onnx["file"]), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": torch.rand(1, 3, 12, 20).numpy()})[0].shape == (1, 3, 48, 80)
    enh = export_flow(out=str(root), enhancer="03", fmt="safetensors", half=True)
    assert enh["arch"] == "elan" and enh["file"].endswith("enhancer-03-fp16.safetensors")
    with pytest.raises(Exception, match="either --run or --enhancer"):
        export_flow(out=str(root))
