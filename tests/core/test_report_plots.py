"""The dataset report's numbers, checked against hand-made tables counted another way, and a
report rendered from manifests that are not there yet."""

from __future__ import annotations

import base64
import re
from collections import Counter

import pandas as pd
import pytest

from hggt.core import report_plots as rp
from hggt.core.report import render, text
from hggt.core.report_sections import NA, ReportInputs, runs_table, table3_with_reasons
from hggt.core.schemas import MANIFESTS
from hggt.core.training.history import from_csv, to_csv

PLAN = {  # set -> labels of 01..04
    "a-0-0": ("Positive", "Positive", "Negative", "Similar"),
    "a-0-1": ("Similar", "Similar", "Similar", "Negative"),
    "b-0-0": ("Positive", "Similar", "Similar", "Similar"),
    "b-0-1": ("Similar", "Similar", "Similar", "Similar"),
    "c-0-0": ("Negative", "Negative", "Similar", "Negative"),
}
LABEL_ROWS = [{"set_id": s, "version": f"0{i + 1}", "effective_label": lab, "vote_count": 3, "usable": True, "source": "human"}
              for s, labs in PLAN.items() for i, lab in enumerate(labs)]


def test_label_proportions_match_a_crosstab():
    expected = pd.crosstab(pd.DataFrame(LABEL_ROWS)["version"], pd.DataFrame(LABEL_ROWS)["effective_label"], normalize="index")
    got = rp.label_proportions(LABEL_ROWS)
    for v in ("01", "02", "03", "04"):
        for lab in ("Positive", "Similar", "Negative"):
            assert got[v][lab] == pytest.approx(expected.loc[v].get(lab, 0.0)), (v, lab)
    assert got["03"] == pytest.approx({"Positive": 0.0, "Similar": 0.8, "Negative": 0.2})
    assert rp.label_counts(LABEL_ROWS)["04"] == {"Positive": 0, "Similar": 3, "Negative": 2}


def test_votes_and_times_per_set():
    votes = [{"set_id": s, "version": v, "annotator": a, "label": lab, "seconds": sec, "source": "app"}
             for s, a, sec in (("x", "ann", 12.0), ("y", "ann", 30.0), ("x", "bob", None))
             for v, lab in zip(("01", "02", "03", "04"), ("Positive", "Similar", "Negative", "Similar"))]
    by = rp.votes_by_annotator(votes)
    assert list(by) == ["ann", "bob"]
    assert by["ann"] == dict(Counter(v["label"] for v in votes if v["annotator"] == "ann")) == {"Positive": 2, "Similar": 4, "Negative": 2}
    assert sorted(rp.seconds_per_set(votes)) == [12.0, 30.0]  # one per set and annotator, not one per vote


def test_examples_show_every_category_from_different_photos_first():
    by_set = {s: dict(zip(("01", "02", "03", "04"), labs)) for s, labs in PLAN.items()}
    photo = {s: s.split("-")[0] for s in PLAN}
    chosen = rp.choose_examples(by_set, photo, 4)
    assert [rp.set_category(by_set[s]) for s in chosen] == ["positive and negative", "positives only", "negatives only", "all similar"]
    assert len({photo[s] for s in chosen[:3]}) == 3  # c-0-0, not a-0-1, whose photo is already shown
    assert sorted(rp.choose_examples(by_set, photo, 10)) == sorted(PLAN)  # never more than there are


def test_identical_rejections_are_grouped_with_a_count_and_examples():
    rows = [{"stage": "maps", "item_id": f"set-{i:02d}", "reason": "no positive version"} for i in range(50)]
    rows += [{"stage": "ingest", "item_id": "tiny.png", "reason": "too small: 90x64"}]
    groups = rp.group_rejections(rows)
    assert groups[0] == {"stage": "maps", "reason": "no positive version", "items": 50,
                         "examples": "set-00, set-01, set-02, and 47 more"}
    assert groups[1]["items"] == 1 and groups[1]["examples"] == "tiny.png (too small: 90x64)"


def test_split_summary_counts_sets_and_photos():
    rows = [{"set_id": f"{p}-{i}-0", "image_id": p, "split": side, "positives": i % 2, "usable": i != 2}
            for p, side in (("a", "train"), ("b", "train"), ("c", "test")) for i in range(3)]
    got = {r["side"]: r for r in rp.split_summary(rows)}
    assert (got["train"]["sets"], got["train"]["photos"], got["train"]["usable"], got["train"]["with a positive"]) == (6, 2, 4, 2)
    assert got["test"]["which photos"] == "c" and got["excluded"]["sets"] == 0


def test_loss_history_round_trips_and_becomes_curves():
    rows = [{"iteration": 10, "l1": 0.5, "lr": 0.002}, {"iteration": 20, "l1": 0.25, "gan": 0.1, "extra": -0.02, "lr": 0.002}]
    back = from_csv(to_csv(rows))
    assert back == rows
    curves = rp.loss_series(back)
    assert curves == {"l1": ([10, 20], [0.5, 0.25]), "gan": ([20], [0.1]), "negative": ([20], [-0.02])}


def test_plots_are_svg_without_any_address():
    svg = rp.plot_label_proportions(rp.label_counts(LABEL_ROWS))
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg and b"<metadata>" not in svg
    hist = rp.plot_histogram({"crops": [1.0, 5.0, 40.0, 300.0, 0.0]}, "lap_var", "lap_var", {"min_laplacian_var": 30}, log=True)
    assert b"<svg" in hist and b"<metadata>" not in hist
    assert rp.plot_losses({"run a": rp.loss_series([{"iteration": 1, "l1": 1.0}, {"iteration": 2, "l1": 0.5}])}).count(b"<svg") == 1


def test_each_loss_term_has_its_own_labelled_axes():
    gan = [{"iteration": i, "l1": 0.07 + 0.01 * (i % 2), "gan": 0.069, "d_real": 0.69 + 0.01 * (i % 3), "d_fake": 0.70, "lr": 1e-3}
           for i in range(10, 60, 10)]
    psnr = [{"iteration": i, "l1": 0.15 - i / 1000} for i in range(10, 60, 10)]
    fig = rp.loss_figure({"run gan": rp.loss_series(gan), "run psnr": rp.loss_series(psnr)})
    shown = [ax for ax in fig.get_axes() if ax.axison]
    assert [ax.get_ylabel() for ax in shown] == ["L1 loss", "GAN loss (G)", "D loss on real", "D loss on fake", "L1 loss"]
    by_label = {ax.get_ylabel(): ax.get_ylim() for ax in shown[:4]}
    assert 0.06 < by_label["L1 loss"][0] and by_label["L1 loss"][1] < 0.09  # not stretched to the discriminator's 0.7
    assert 0.68 < by_label["D loss on real"][0] and by_label["D loss on real"][1] < 0.72
    assert [ax.get_title(loc="left") for ax in shown[:4]] == ["generator", "generator", "discriminator", "discriminator"]
    assert sum(not ax.axison for ax in fig.get_axes()) == 3  # the psnr run has no GAN or discriminator terms


def test_urls_are_cut_to_their_file_name():
    assert text("Download https://download.pytorch.org/models/alexnet-owt-7be5be79.pth (233 MB)") == \
        "Download alexnet-owt-7be5be79.pth (233 MB)"


def _run(run_id: str, mode: str, **kw) -> dict:
    return {"run_id": run_id, "arch": "rrdb", "mode": mode, "iterations": 10, "sets": 3, "init_run": None,
            "split_fingerprint": None, "created_at": "2026-01-01", "iterations_per_s": None, **kw}


def test_table3_gives_the_reason_beside_every_missing_number():
    runs = [_run("r-psnr", "psnr"), _run("r-pos", "pos", split_fingerprint="abcdef0123456789", iterations_per_s=2.5)]
    metrics = [{"run_id": r, "test_set": "dataset", "set_id": "a-0-0", "gt_version": "01", "psnr": 20.0, "ssim": 0.5, "lpips": None,
                "dists": None, "artifact_rate": rate, "sr_uri": "x"} for r, rate in (("r-psnr", None), ("r-pos", 0.25))]
    d = ReportInputs("ds", "/tmp/ds", {"runs": runs, "metrics": metrics}, unavailable={"lpips": "alexnet weights not found"})
    rows = {r["run"]: r for r in table3_with_reasons(d)["dataset"]}
    assert rows["r-pos"]["artifact rate"] == 0.25 and rows["r-pos"]["PSNR"] == 20.0
    assert rows["r-psnr"]["artifact rate"].short == "no negatives"
    assert rows["r-pos"]["LPIPS"].short == "weights missing" and "note under the table" in rows["r-pos"]["LPIPS"].full
    assert rows["r-pos"]["DISTS"].short == "not computed" and "hggt evaluate" in rows["r-pos"]["DISTS"].full
    assert rows["r-psnr"]["paper PSNR"].short == "not in the paper" and rows["r-pos"]["paper PSNR"] == pytest.approx(22.2378)
    every_none = [k for r in rows.values() for k, v in r.items() if v is None]
    assert every_none == []
    table = {r["run"]: r for r in runs_table(d)}
    assert table["r-psnr"]["split"].short == "before the split" and table["r-pos"]["split"] == "abcdef0123"
    page = render(d)
    assert page.count("n/a<span class=\"why\">") == sum(isinstance(v, NA) for r in rows.values() for v in r.values()) + 2


def test_a_dataset_with_no_manifests_still_reports_what_each_section_lacks():
    page = render(ReportInputs("fresh", "/data/fresh", dict.fromkeys(MANIFESTS)))
    assert "<title>HGGT dataset fresh</title>" in page
    for section in ("overview", "crops", "labels", "split", "examples", "maps", "enhancers", "runs", "rejected"):
        assert f'<section id="{section}">' in page
    for name in ("patches", "enhanced", "labels", "votes", "splits", "maps", "enhancers", "runs", "metrics", "rejected"):
        assert f"manifests/{name}.parquet is missing: `{MANIFESTS[name].produced_by}` makes it." in page, name
    assert not re.search(r"https?://", page) and "data:image" not in page


def test_embedded_plots_decode_to_svg():
    d = ReportInputs("ds", "/d", {**dict.fromkeys(MANIFESTS), "labels": LABEL_ROWS})
    page = render(d)
    blobs = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(blobs) == 1 and b"<svg" in base64.b64decode(blobs[0])


def _scored(run_id: str, set_id: str, version: str, psnr: float, rate: float | None = None) -> dict:
    return {"run_id": run_id, "test_set": "dataset", "set_id": set_id, "gt_version": version, "psnr": psnr, "ssim": 0.5,
            "lpips": None, "dists": None, "artifact_rate": rate, "sr_uri": "x"}


def test_the_bicubic_baseline_is_the_first_row_averaged_like_a_run():
    runs = [_run("r-pos", "pos")]
    metrics = [_scored("r-pos", "a-0-0", "01", 21.0), _scored("bicubic", "a-0-0", "01", 18.0, 0.5),
               _scored("bicubic", "a-0-0", "02", 20.0, 0.5), _scored("bicubic", "b-0-0", "01", 22.0, None)]
    d = ReportInputs("ds", "/tmp/ds", {"runs": runs, "metrics": metrics})
    rows = table3_with_reasons(d)["dataset"]
    assert [r["run"] for r in rows] == ["bicubic", "r-pos"]
    bicubic = rows[0]
    # the multi-GT rule: a-0-0's two GTs first (19.0), then the two images
    assert (bicubic["model"], bicubic["images"], bicubic["PSNR"], bicubic["artifact rate"]) == ("Bicubic", 2, 20.5, 0.5)
    assert bicubic["paper PSNR"].short == "not in the paper" and "no bicubic row" in bicubic["paper PSNR"].full
    assert table3_with_reasons(ReportInputs("ds", "/d", {"runs": [], "metrics": metrics[1:]})) == {}  # no run, no table


def test_the_paper_columns_carry_a_caveat_beside_the_table():
    runs = [_run("r-pos", "pos")]
    metrics = [_scored("r-pos", s, "01", 21.0) for s in ("a-0-0", "b-0-0", "c-0-0", "d-0-0")]
    page = render(ReportInputs("ds", "/tmp/ds", {**dict.fromkeys(MANIFESTS), "runs": runs, "metrics": metrics}))
    table3 = page[page.index("<h3>Table 3 on test set dataset</h3>"):]
    caveat = re.match(r'<h3>[^<]+</h3><p class="caveat">([^<]+)</p><div class=\'tw\'><table>', table3)
    assert caveat, table3[:300]
    assert "each row scored 4 test images" in caveat[1] and "scored 100 (Test-100)" in caveat[1]
    assert "published values of supplement Table 3" in caveat[1] and "not computed here" in caveat[1]
    assert "No bicubic baseline row" in page  # evaluated before the baseline existed: says how to add it


def test_one_note_lists_every_missing_weight_file_and_the_commands_after(monkeypatch, tmp_path):
    from hggt.core.metrics import missing_weights

    runs = [_run("r-pos", "pos")]
    metrics = [_scored("r-pos", "a-0-0", "01", 21.0)]
    missing = [{"metric": "lpips", "name": "alexnet", "file": "alexnet-owt-7be5be79.pth", "folder": "/hub/checkpoints",
                "size": "233 MB", "url": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"},
               {"metric": "dists", "name": "vgg16", "file": "vgg16-397923af.pth", "folder": "/hub/checkpoints",
                "size": "528 MB", "url": "https://download.pytorch.org/models/vgg16-397923af.pth"}]
    d = ReportInputs("ds", "/data/ds", {**dict.fromkeys(MANIFESTS), "runs": runs, "metrics": metrics},
                     unavailable={"lpips": "x", "dists": "y"}, missing_weights=missing)
    notes = re.findall(r'<div class="missing">(.*?)</div>', render(d))
    assert len(notes) == 1, notes
    note = notes[0]
    assert re.findall(r"<li>([^<]+)</li>", note) == [
        "alexnet-owt-7be5be79.pth (233 MB, for LPIPS) into /hub/checkpoints/",
        "vgg16-397923af.pth (528 MB, for DISTS) into /hub/checkpoints/"]
    assert "2 weight files are missing" in note
    assert note.index("hggt evaluate --out /data/ds --run RUN") < note.index("hggt report --out /data/ds")
    # the report task's list: every missing file, not the first of each metric
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert [(w["metric"], w["file"], w["folder"]) for w in missing_weights()] == [
        ("lpips", "alexnet-owt-7be5be79.pth", str(tmp_path / "hub" / "checkpoints")),
        ("dists", "vgg16-397923af.pth", str(tmp_path / "hub" / "checkpoints"))]
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    assert [w["file"] for w in missing_weights()] == ["vgg16-397923af.pth"]


def test_each_map_picture_has_a_colour_bar_with_its_range_and_meaning():
    import cv2
    import numpy as np

    from hggt.core.figures import heat, map_top

    m_neg = np.zeros((50, 50), np.float32)
    m_neg[10:20, 10:20] = 0.02
    m_neg[0, 0] = 5.0  # one outlier above the 99th percentile: drawn white-yellow, not the scale's top
    assert map_top(m_neg) == pytest.approx(0.02)
    jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    d = ReportInputs("ds", "/d", {**dict.fromkeys(MANIFESTS), "maps": [
        {"set_id": s, "pos_version": "01", "neg_version": "02", "nonzero_fraction": 0.1} for s in ("a-0-0", "b-0-0")]},
        map_figures=[("a-0-0", "positive 01, negative 02", jpeg), ("b-0-0", "positive 01, negative 02", jpeg)],
        map_tops={"a-0-0": map_top(m_neg)})
    page = render(d)
    bars = re.findall(r"<div class='cbar'><span>map value 0</span><span class='ramp' style='background:linear-gradient\(to right, "
                      r"([^)]*)\)'></span><span>([^<]*)</span>", page)
    assert [end for _, end in bars] == ["&ge; 0.02", "top"]  # b-0-0's stored maps were not read: no value
    stops = bars[0][0].split(", ")
    low, high = heat(np.array([[0.0, 1.0]], np.float32), 1.0)[0]  # the pictures' own colours at 0 and at the top
    assert stops[0] == "#%02x%02x%02x" % tuple(low) and stops[-1] == "#%02x%02x%02x" % tuple(high)
    assert "local variance" in page and "99th percentile" in page and "M_ind is M_neg where it exceeds M_pos" in page


def test_declared_enhancers_are_called_declared_not_trained():
    enhancer = {"setting": None, "parameters": 1000, "final_l1": None, "final_perceptual": None, "final_gan": None, "seconds": None}
    rows = [{**enhancer, "version": "01", "arch": "rcan", "setting": "1", "iterations": 60, "source": "trained", "kind": None},
            {**enhancer, "version": "zoo", "arch": "ESRGAN", "iterations": 0, "source": "/models/x2.safetensors", "kind": "declared"},
            {**enhancer, "version": "03", "arch": "elan", "iterations": 900, "source": "/shipped/03.pt", "kind": None}]
    page = render(ReportInputs("ds", "/d", {**dict.fromkeys(MANIFESTS), "enhancers": rows}))
    section = page[page.index('<section id="enhancers">'):page.index('<section id="runs">')]
    cells = {m[0]: m[1:] for m in re.findall(r"<tr><td class='id'>([^<]+)</td><td[^>]*>([^<]+)</td><td class='id'>[^<]+</td>"
                                             r"<td class='id'>[^<]+</td>(<td[^>]*>[^<]+</td>)", section)}
    assert cells["zoo"] == ("declared (adopted from a file, not trained)", "<td class='id'>—</td>")  # no iterations: never trained
    assert cells["01"] == ("trained", '<td class="n">60</td>')
    assert cells["03"] == ("adopted (trained by hggt elsewhere)", '<td class="n">900</td>')
