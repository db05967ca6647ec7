"""`hggt report` on a small dataset with every kind of content: maps, votes with times, a trained
run and its loss curve, many identical rejections; the HTML checked as text and in Chromium."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path

import pytest

from hggt.flows.maps import maps_flow
from hggt.flows.report import report_flow
from hggt.flows.train_sr import train_sr_flow
from hggt.core import manifests, storage
from hggt.core.training.history import from_csv
from tests.flows.test_train_sr_stage import SR_TINY

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
         "--no-first-run", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("HGGT_SCREENSHOTS", "test-artifacts"))
SECTIONS = ("overview", "crops", "labels", "split", "examples", "maps", "enhancers", "runs", "rejected")


@pytest.fixture(scope="module")
def reported(labelled, tmp_path_factory):
    src, sets = labelled
    root = tmp_path_factory.mktemp("report") / "my-photos"
    shutil.copytree(src, root)
    maps_flow(out=str(root), preset="demo")
    run = train_sr_flow(out=str(root), arch="rrdb", mode="psnr", preset="demo", overrides=SR_TINY)
    labels = manifests.read(str(root), "labels").to_pylist()
    votes = [{"set_id": r["set_id"], "version": r["version"], "annotator": a, "label": r["effective_label"], "started_at": None,
              "ended_at": None, "seconds": 20.0 + i, "source": "app"} for r in labels for i, a in enumerate(("ann", "bob"))]
    manifests.write(str(root), "votes", manifests.to_table("votes", votes))
    rejected = [{"stage": "maps", "item_id": f"photo9-{i}-0", "uri": None, "reason": "no positive version"} for i in range(50)]
    manifests.write(str(root), "rejected", manifests.to_table("rejected", rejected))
    metrics = [{"run_id": run["run_id"], "test_set": "dataset", "set_id": sets[0], "gt_version": v, "psnr": 20.0, "ssim": 0.5,
                "lpips": None, "dists": None, "artifact_rate": None, "sr_uri": "x.png"} for v in ("01", "02")]
    manifests.write(str(root), "metrics", manifests.to_table("metrics", metrics))
    summary = report_flow(out=str(root))
    return root, sets, run, summary


def test_training_keeps_each_loss_curve_beside_its_model(reported):
    root, _, run, _ = reported
    for r in manifests.read(str(root), "enhancers").to_pylist():
        rows = from_csv(Path(root, "enhancers", r["version"], "losses.csv").read_bytes())
        assert rows[-1]["iteration"] == r["iterations"] and rows[-1]["l1"] == pytest.approx(r["final_l1"], abs=1e-6)
    rows = from_csv(Path(root, "runs", run["run_id"], "losses.csv").read_bytes())
    assert rows[-1]["iteration"] == run["iterations"] and rows[-1]["l1"] == pytest.approx(run["final_l1"], abs=1e-6)


def test_the_report_has_every_section_plot_and_reason(reported):
    root, sets, run, summary = reported
    page = Path(root, "reports", "dataset.html").read_text()
    assert "<title>HGGT dataset my-photos</title>" in page and summary["missing_manifests"] == ["annotator_evaluations", "annotators", "assignments", "lr_test", "set_sources", "triage"]
    for key in SECTIONS:
        assert f'<section id="{key}">' in page, key
    assert not re.search(r"https?://", page) and "<script" not in page and "<link" not in page
    # label shares, gray_std, lap_var, mean_abs_diff, votes per annotator, time per set, indicated share, two loss grids
    assert page.count('class="plot') == 9
    assert "no positive version" in page and ">50<" in page and "and 47 more" in page
    assert page.count("photo9-") == 3  # three examples of the fifty, not fifty rows
    assert "n/a<span class=\"why\">no negatives</span>" in page and "LPIPS" in page
    maps_shown = re.findall(r"<p><b>([^<]+)</b> <span class='muted'>positive ", page)
    assert maps_shown == [sets[0]]  # the only set with a positive and a negative; sets[1]'s map uses the original
    from hggt.core.figures import map_top
    from hggt.core.stage_work.maps import load_maps

    shown = next(r for r in manifests.read(str(root), "maps").to_pylist() if r["set_id"] == sets[0] and r["figure_uri"])
    top = map_top(load_maps(Path(root, shown["uri"]).read_bytes())["m_neg"])
    assert page.count("<div class='cbar'>") == 1 and f"<span>&ge; {top:.3g}</span></div>" in page  # its colour scale's range
    assert re.search(r"<td class='id'>train</td><td class=\"n\">4</td>", page)  # every labelled set on the train side


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)")
def test_the_report_renders_in_chromium_at_1400_px(reported):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    root = reported[0]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "dataset-report.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(Path(root, "reports", "dataset.html").as_uri())
            page.wait_for_load_state("load")
            sizes = page.evaluate("[...document.querySelectorAll('img')].map(i => [i.className, i.naturalWidth, "
                                  "i.getBoundingClientRect().width, i.getBoundingClientRect().height])")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            visible = page.evaluate(f"{list(SECTIONS)}.map(id => document.getElementById(id).getBoundingClientRect().height)")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    plots = [s for s in sizes if "plot" in s[0]]
    assert len(plots) == 9 and all(w > 200 and h > 100 and natural > 0 for _, natural, w, h in plots), plots
    assert all(natural > 0 and w > 0 and h > 0 for _, natural, w, h in sizes)  # every picture decoded and laid out
    assert overflow <= 1400 and all(h > 40 for h in visible)
    width, height = Image.open(shot).size
    assert width == 1400 and height > 3000
    assert storage.size(str(shot)) > 100_000  # a page of plots and pictures, not a blank one
