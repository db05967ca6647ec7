"""evaluate, compare and report end to end on tiny trained models: the held-out split and its
refusals, external test folders in the three layouts."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from hggt.flows.degrade import synthesize_lr_flow
from hggt.flows.evaluate import compare_flow, evaluate_flow
from hggt.flows.report import report_flow
from hggt.flows.train_sr import train_sr_flow
from hggt.core import manifests, storage
from hggt.core.annotation.published import format_label_file
from hggt.core.images import decode_png
from hggt.core.evaluation import multi_gt_average
from hggt.core.metrics import ssim
from hggt.core.test_sets import mod_crop
from tests.flows.eval_helpers import add_run_copies, gt_only_folder, paired_folder, set_run_fingerprints, write_split
from tests.flows.test_train_sr_stage import SR_TINY


@pytest.fixture(scope="module")
def evaluated(labelled, tmp_path_factory):
    """Two tiny runs trained after a split that holds out sets[0] (the only set with two positives)."""
    src, sets = labelled
    root = tmp_path_factory.mktemp("eval") / "ds"
    shutil.copytree(src, root)
    synthesize_lr_flow(source=str(root), out=str(root), preset="demo")
    fp = write_split(root, sets, {sets[0]})
    psnr_run = train_sr_flow(out=str(root), arch="rrdb", mode="psnr", preset="demo", overrides=SR_TINY)["run_id"]
    pos_run = train_sr_flow(out=str(root), arch="rrdb", mode="pos", preset="demo", overrides=SR_TINY)["run_id"]
    set_run_fingerprints(root, {psnr_run: fp, pos_run: fp})
    summary = evaluate_flow(out=str(root), run_id=psnr_run, preset="demo", overrides=SR_TINY)
    evaluate_flow(out=str(root), run_id="latest", preset="demo", overrides=SR_TINY)  # the pos run, trained last
    return root, sets, psnr_run, pos_run, summary


def _png(root, uri):
    return decode_png(storage.read_bytes(storage.resolve(str(root), uri)))


def test_the_default_test_set_is_the_held_out_split_scored_against_every_positive(evaluated):
    root, sets, psnr_run, pos_run, summary = evaluated
    metrics = [r for r in manifests.read(str(root), "metrics").to_pylist() if r["test_set"] == "dataset"]
    rows = [r for r in metrics if r["run_id"] == psnr_run]
    assert {(r["set_id"], r["gt_version"]) for r in rows} == {(sets[0], "01"), (sets[0], "02")}  # test side only
    assert {r["set_id"] for r in metrics} == {sets[0]} and {r["run_id"] for r in metrics} == {psnr_run, pos_run, "bicubic"}
    assert summary["unscored"] == 0 and summary["test_set"] == "dataset" and summary["on_training_sets"] is None
    images = {(r["set_id"], r["file"]): r["uri"] for r in manifests.read(str(root), "set_images").to_pylist()}
    for r in rows:
        sr, gt = _png(root, r["sr_uri"]), _png(root, images[(r["set_id"], r["gt_version"])])
        assert sr.shape == gt.shape
        assert r["psnr"] == pytest.approx(peak_signal_noise_ratio(gt[4:-4, 4:-4], sr[4:-4, 4:-4], data_range=255))
        assert r["ssim"] == pytest.approx(ssim(sr, gt)) and r["lpips"] is None and r["dists"] is None
        assert r["artifact_rate"] is not None and 0.0 <= r["artifact_rate"] <= 1.0  # sets[0] has an annotated negative
    assert summary["PSNR"] == pytest.approx(multi_gt_average(rows, ("psnr",))["psnr"])
    # the bicubic baseline: the same LR input upsampled by torch's bicubic, scored by the same code
    lr_uri = next(r["uri"] for r in manifests.read(str(root), "lr_test").to_pylist() if r["patch_id"] == sets[0])
    lr = torch.from_numpy(_png(root, lr_uri)).permute(2, 0, 1)[None].float()
    for r in (r for r in metrics if r["run_id"] == "bicubic"):
        gt = _png(root, images[(r["set_id"], r["gt_version"])])
        bicubic = _png(root, r["sr_uri"])
        expected = F.interpolate(lr, scale_factor=4, mode="bicubic").clamp(0, 255).round().byte()[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(bicubic, expected)
        assert r["psnr"] == pytest.approx(peak_signal_noise_ratio(gt[4:-4, 4:-4], bicubic[4:-4, 4:-4], data_range=255))
        assert r["sr_uri"] == f"evaluations/bicubic/dataset/sr/{Path(r['sr_uri']).name}" and r["artifact_rate"] is not None
    assert summary["skipped_metrics"] == ["dists", "lpips"]
    table = (root / "reports" / "table3-dataset.md").read_text()
    assert "RRDB-PSNR" in table and "RRDB-GAN" in table and "22.2378" in table and "LPIPS skipped" in table
    assert "| Bicubic | none | bicubic | 1 |" in table and "each row scored 1 test image" in table
    assert "NOT HELD OUT" not in table
    assert (root / "reports" / "table3-dataset.csv").read_text().startswith("model,training GT,run,images,PSNR")


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
            path.write_bytes(format_label_file(set_id, labels, when, when, 1.0))
    summary = evaluate_flow(out=str(root), run_id=psnr_run, test_set=str(folder), preset="demo", overrides=SR_TINY)
    every = [r for r in manifests.read(str(root), "metrics").to_pylist() if r["test_set"] == summary["test_set"]]
    rows = [r for r in every if r["run_id"] == psnr_run]
    assert summary["test_set"] == "Test-100" and summary["layout"] == "published"
    assert {(r["set_id"], r["gt_version"]) for r in rows} == {(sets[0], "01"), (sets[2], "01")}
    ours = {(r["set_id"], r["gt_version"]): r["psnr"] for r in manifests.read(str(root), "metrics").to_pylist()
            if r["test_set"] == "dataset" and r["run_id"] == psnr_run}
    compared = [r for r in rows if (r["set_id"], r["gt_version"]) in ours]
    assert compared  # sets[0], the held-out one
    for r in compared:  # the external LR is made the way `hggt synthesize-lr` makes it, so the SR is the same
        assert r["psnr"] == pytest.approx(ours[(r["set_id"], r["gt_version"])])
    bicubic = {(r["set_id"], r["gt_version"]): r["psnr"] for r in manifests.read(str(root), "metrics").to_pylist()
               if r["test_set"] == "dataset" and r["run_id"] == "bicubic"}
    assert [r["psnr"] for r in every if r["run_id"] == "bicubic" and r["set_id"] == sets[0]] == [pytest.approx(bicubic[(sets[0], "01")])]  # and the baseline


@pytest.fixture
def stale_runs(evaluated):
    """Copies of the psnr run that trained before any split, or on another split; runs.parquet and
    splits.parquet are restored afterwards."""
    root = evaluated[0]
    saved = {n: manifests.manifest_url(str(root), n) for n in ("runs", "splits")}
    saved = {url: storage.read_bytes(url) for url in saved.values()}
    add_run_copies(root, evaluated[2], {"rrdb-psnr-nosplit": None, "rrdb-psnr-oldsplit": "0123456789abcdef"})
    yield root
    for url, data in saved.items():
        storage.atomic_write(url, data)


def test_evaluating_a_run_on_sets_it_may_have_trained_on_is_refused(evaluated, stale_runs):
    root, _, psnr_run, _, _ = evaluated
    go = lambda run, **kw: evaluate_flow(out=str(root), run_id=run, preset="demo", overrides=SR_TINY, **kw)  # noqa: E731
    with pytest.raises(Exception, match=r"trained before the held-out split.*--allow-train-sets"):
        go("rrdb-psnr-nosplit")
    with pytest.raises(Exception, match=r"another split \(fingerprint 0123456789abcdef\).*--allow-train-sets"):
        go("rrdb-psnr-oldsplit")
    with pytest.raises(Exception, match=r"the train side of the split is what run .* trained on.*--allow-train-sets"):
        go(psnr_run, split="train")
    Path(manifests.manifest_url(str(root), "splits")).unlink()
    with pytest.raises(Exception, match=r"splits.parquet is missing\): run `hggt split`"):
        go(psnr_run)


def test_allow_train_sets_scores_them_and_marks_every_table(evaluated, stale_runs, run_cli):
    root, sets, psnr_run, _, _ = evaluated
    summary = evaluate_flow(out=str(root), run_id=psnr_run, split="train", allow_train_sets=True, preset="demo", overrides=SR_TINY)
    assert summary["test_set"] == "dataset-train-sets" and "train side" in summary["on_training_sets"]
    rows = [r for r in manifests.read(str(root), "metrics").to_pylist() if r["test_set"] == "dataset-train-sets"]
    assert {(r["set_id"], r["gt_version"]) for r in rows} == {(sets[2], "01")}  # the train side's one set with a positive
    assert {s for s, _ in summary["reasons"]} == {sets[1], sets[3]}  # no positive to score against: listed, not dropped
    table = (root / "reports" / "table3-dataset-train-sets.md").read_text()
    assert "NOT HELD OUT" in table and "--allow-train-sets" in table and "| on training sets |" in table
    assert "on training sets" in (root / "reports" / "table3-dataset-train-sets.csv").read_text().splitlines()[0]
    assert all(r["on training sets"] == "yes" for r in summary["table"])
    proc = run_cli("evaluate", "--out", str(root), "--run", "rrdb-psnr-nosplit", "--allow-train-sets", "--preset", "demo",
                   *[a for o in SR_TINY for a in ("--set", o)])
    out = " ".join(proc.stdout.split())  # rich wraps long lines
    assert "NOT HELD OUT" in out and "dataset-test-train-sets" in out and "trained before the held-out split" in out


def _sr_matches_gt_crop(root, row, gt: np.ndarray, shape: tuple[int, int]) -> None:
    sr = _png(root, row["sr_uri"])
    assert sr.shape == (*shape, 3)
    ref = gt[: shape[0], : shape[1]]
    c = (slice(4, -4), slice(4, -4))
    assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(ref[c], sr[c], data_range=255), abs=1e-9)
    expected = structural_similarity(sr[c], ref[c], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255, channel_axis=2)
    assert row["ssim"] == pytest.approx(expected, abs=1e-9)


def test_a_paired_folder_is_scored_on_gts_cropped_to_4x_lq(evaluated, tmp_path):
    root, _, psnr_run, _, _ = evaluated
    gts = paired_folder(tmp_path / "Set5-blind")
    summary = evaluate_flow(out=str(root), run_id=psnr_run, test_set=str(tmp_path / "Set5-blind"), preset="demo", overrides=SR_TINY)
    assert summary["test_set"] == "Set5-blind" and summary["layout"] == "paired"
    rows = {r["set_id"]: r for r in manifests.read(str(root), "metrics").to_pylist() if r["test_set"] == "Set5-blind"}
    assert set(rows) == {"a", "b"} and {r["gt_version"] for r in rows.values()} == {"GT"}
    assert rows["a"]["sr_uri"] == f"evaluations/{psnr_run}/Set5-blind/sr/a.png"
    _sr_matches_gt_crop(root, rows["a"], gts["a.png"], (32, 28))  # GT 34x30, LQ 8x7
    _sr_matches_gt_crop(root, rows["b"], gts["b.png"], (32, 32))
    reasons = dict(summary["reasons"])
    assert "wrong size ratio" in reasons["c"] and "40x40" in reasons["c"] and "12x12" in reasons["c"]
    assert "LQ/orphan.png has no GT" in reasons["orphan.png"] and "GT/d.png has no LQ" in reasons["d.png"]
    rejected = {r["item_id"] for r in manifests.read(str(root), "rejected").to_pylist() if r["stage"] == f"evaluate/{psnr_run}/Set5-blind"}
    assert rejected == {"c", "orphan.png", "d.png"}


def test_a_gt_only_folder_gets_its_lq_made_once_with_a_recorded_degradation(evaluated, tmp_path):
    from hggt.core.degradation import cpu
    from hggt.core.degradation.settings import DegradationRecord

    root, _, psnr_run, pos_run, _ = evaluated
    folder = tmp_path / "Mini"
    gts = gt_only_folder(folder)
    summary = evaluate_flow(out=str(root), run_id=psnr_run, test_set=str(folder), preset="demo", overrides=SR_TINY)
    assert summary["layout"] == "gt_only" and "broken.png" in dict(summary["reasons"])
    rows = {r["set_id"]: r for r in manifests.read(str(root), "metrics").to_pylist() if r["test_set"] == "Mini" and r["run_id"] == psnr_run}
    _sr_matches_gt_crop(root, rows["x"], gts["x.png"], (68, 44))  # 70x45 mod-cropped to 68x44, LQ 17x11
    _sr_matches_gt_crop(root, rows["y"], gts["y.png"], (48, 40))
    record_url = str(root / "evaluations" / "Mini" / "lq" / "lr_test.parquet")
    records = {r["patch_id"]: r for r in manifests.read_table(record_url, "lr_test").to_pylist()}
    assert set(records) == {"x", "y"}
    lq_path = root / records["x"]["uri"]
    lq = _png(root, records["x"]["uri"])
    assert lq.shape == (17, 11, 3)
    remade = cpu.degrade(mod_crop(gts["x.png"], 4), DegradationRecord.from_row(records["x"]), target=(17, 11))
    np.testing.assert_array_equal(lq, remade)  # the record reproduces the LQ
    before = (lq_path.read_bytes(), lq_path.stat().st_mtime_ns)
    evaluate_flow(out=str(root), run_id=pos_run, test_set=str(folder), preset="demo", overrides=SR_TINY)
    assert (lq_path.read_bytes(), lq_path.stat().st_mtime_ns) == before  # reused, not remade
    assert {r["run_id"] for r in manifests.read(str(root), "metrics").to_pylist() if r["test_set"] == "Mini"} == {psnr_run, pos_run, "bicubic"}


def test_a_folder_in_no_known_layout_is_named_in_the_error(evaluated, tmp_path):
    root, _, psnr_run, _, _ = evaluated
    (tmp_path / "odd" / "deep" / "er").mkdir(parents=True)
    (tmp_path / "odd" / "deep" / "er" / "x.png").write_bytes(b"")
    with pytest.raises(Exception, match=r"test set '.*odd' matches none of the three layouts.*deep/er/x.png"):
        evaluate_flow(out=str(root), run_id=psnr_run, test_set=str(tmp_path / "odd"), preset="demo", overrides=SR_TINY)


def test_compare_writes_side_by_side_grids(evaluated):
    root, sets, psnr_run, pos_run, _ = evaluated
    result = compare_flow(out=str(root), runs=[psnr_run, pos_run], images=2)
    assert result["images"] == 1  # the one held-out set both runs were scored on
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

    from hggt.flows.export import export_flow

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
