"""The annotation app in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.app.conftest import Server, make_store

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
         "--no-first-run", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("HGGT_SCREENSHOTS", "test-artifacts"))

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)")


def test_label_a_set_with_the_keyboard_and_resume_after_reload(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    store, tokens = make_store(tmp_path, sets=3, annotators=["alice", "bob"], per_set=2)
    with Server(store) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{server.url}/#token={tokens['alice']}")
            expect(page.locator("#progress")).to_have_text("0 / 3 sets done")
            expect(page.locator("#setname")).to_contain_text("set 1 of 3")  # shown once its images are in
            expect(page.locator("#who")).to_have_text("alice")
            assert "token" not in page.url  # the token leaves the address bar
            first = page.locator("#setname").inner_text()
            submit = page.locator("#submit")
            expect(submit).to_be_disabled()
            for key in ("1", "p", "2", "s", "3", "n"):
                page.keyboard.press(key)
            expect(submit).to_be_disabled()  # one version still unlabelled
            page.keyboard.press("4")
            page.keyboard.press("p")
            expect(page.locator('.cell[data-slot="2"] button.on')).to_have_text("Similar")
            expect(submit).to_be_enabled()
            scales = "[...document.querySelectorAll('.view img')].map(e => e.style.transform.split('scale(')[1])"
            before = page.evaluate(scales)
            page.mouse.move(300, 400)
            page.mouse.wheel(0, -400)  # zoom: all five views follow, at one magnification
            page.wait_for_function(f"(() => {{ const s = {scales}; return s[0] !== {before[0]!r} && new Set(s).size === 1; }})()")
            page.keyboard.press("Enter")
            expect(page.locator("#progress")).to_have_text("1 / 3 sets done")
            expect(page.locator("#setname")).to_contain_text("set 2 of 3")
            assert page.locator("#setname").inner_text() != first

            page.reload()
            expect(page.locator("#progress")).to_have_text("1 / 3 sets done")
            expect(page.locator("#setname")).to_contain_text("set 2 of 3")
            page.keyboard.press("Backspace")
            expect(page.locator("#setname")).to_contain_text("set 1 of 3")
            expect(page.locator('.cell[data-slot="3"] button.on')).to_have_text("Negative")  # earlier labels, revisable
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "annotation-app.png"))
        finally:
            browser.close()
    votes = store.votes()
    assert len(votes) == 4 and {v["annotator"] for v in votes} == {"alice"}
    order = store.sets()
    by_version = {v["version"]: v["label"] for v in votes}
    shown = next(s["display_order"] for s in order if s["set_id"] == votes[0]["set_id"])
    assert [by_version[v] for v in shown] == ["Positive", "Similar", "Negative", "Positive"]
    assert all(v["seconds"] > 0 for v in votes)
