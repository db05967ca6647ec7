"""The annotation app in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from hggt.core.annotation.assignment import display_order
from tests.app.conftest import Server, make_store

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
         "--no-first-run", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("HGGT_SCREENSHOTS", "test-artifacts"))
SCALES = "[...document.querySelectorAll('.view img')].map(e => parseFloat(e.style.transform.split('scale(')[1]))"
CENTRE = "(() => { const v = document.querySelector('.cell[data-slot=\"1\"] .view'); const i = v.querySelector('img'); " \
         "const m = i.style.transform.match(/translate\\(([-.\\d]+)px, ([-.\\d]+)px\\) scale\\(([-.\\d]+)\\)/); " \
         "return [(v.clientWidth / 2 - m[1]) / m[3], (v.clientHeight / 2 - m[2]) / m[3]]; })()"

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _open(browser, server, token, size=(1280, 800)):
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    page.goto(f"{server.url}/#token={token}")
    expect(page.locator("#setname")).to_contain_text("Set ")  # shown once its images are in
    return page


def _label_all(page, labels="pspn"):
    for slot, key in zip("1234", labels):
        page.keyboard.press(slot)
        page.keyboard.press(key)


def test_label_a_set_with_the_keyboard_and_resume_after_reload(browser, tmp_path):
    from playwright.sync_api import expect

    store, tokens = make_store(tmp_path, sets=3, annotators=["alice", "bob"], per_set=2)
    with Server(store) as server:
        page = _open(browser, server, tokens["alice"])
        expect(page.locator("#progress")).to_have_text("0 / 3 sets done")
        expect(page.locator("#setname")).to_contain_text("Set 1 of 3")
        expect(page.locator("#who")).to_have_text("alice")
        assert "token" not in page.url  # the token leaves the address bar
        submit = page.locator("#submit")
        expect(submit).to_be_disabled()
        for key in ("1", "p", "2", "s", "3", "n"):
            page.keyboard.press(key)
        expect(submit).to_be_disabled()  # one version still unlabelled
        page.keyboard.press("4")
        page.keyboard.press("p")
        expect(page.locator('.cell[data-slot="2"] button.on')).to_have_text("Similar")
        expect(submit).to_be_enabled()
        before = page.evaluate(SCALES)
        page.mouse.move(700, 300)
        page.mouse.wheel(0, -400)  # zoom: all five views follow, at one magnification
        page.wait_for_function(f"(() => {{ const s = {SCALES}; return s[0] !== {before[0]!r} && new Set(s).size === 1; }})()")
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_have_text("1 / 3 sets done")
        expect(page.locator("#setname")).to_contain_text("Set 2 of 3")

        page.reload()
        expect(page.locator("#progress")).to_have_text("1 / 3 sets done")
        expect(page.locator("#setname")).to_contain_text("Set 2 of 3")
        page.keyboard.press("Backspace")
        expect(page.locator("#setname")).to_contain_text("Set 1 of 3")
        expect(page.locator("#setname")).to_contain_text("done")
        expect(page.locator('.cell[data-slot="3"] button.on')).to_have_text("Negative")  # earlier labels, revisable
        page.keyboard.press("1")
        page.keyboard.press("n")  # on a finished set the selection moves on as on a new one
        expect(page.locator(".cell.selected")).to_have_attribute("data-slot", "2")
    votes = store.votes()
    assert len(votes) == 4 and {v["annotator"] for v in votes} == {"alice"}
    by_version = {v["version"]: v["label"] for v in votes}
    shown = next(s["display_order"] for s in store.sets() if s["set_id"] == votes[0]["set_id"])
    assert [by_version[v] for v in shown] == ["Positive", "Similar", "Negative", "Positive"]
    assert all(v["seconds"] > 0 for v in votes)


def test_double_enter_submits_once_and_moves_to_the_next_unfinished_set(browser, tmp_path):
    from playwright.sync_api import expect

    store, tokens = make_store(tmp_path, sets=4, annotators=["alice", "bob"], per_set=2)
    with Server(store) as server:
        page = _open(browser, server, tokens["alice"])

        def slow_vote(route):  # the second Enter must land while the first submission is in flight
            time.sleep(0.4)
            route.continue_()

        page.route("**/votes", slow_vote)
        queue = [q["set_id"] for q in store.queue("alice")]
        for n in range(4):
            expect(page.locator("#setname")).to_contain_text(f"Set {n + 1} of 4")
            if n == 3:
                expect(page.locator("#setname")).to_contain_text("the last set")
            _label_all(page)
            page.keyboard.press("Enter")
            page.keyboard.press("Enter")
            expect(page.locator("#progress")).to_have_text(f"{n + 1} / 4 sets done")
        expect(page.locator("#banner")).to_contain_text("All 4 sets are done")
    with sqlite3.connect(store.path) as c:
        revisions = dict(c.execute("SELECT set_id, MAX(revision) FROM votes WHERE annotator = 'alice' GROUP BY set_id"))
    assert revisions == {s: 1 for s in queue}


def test_zoom_keys_persist_across_sets_and_space_flickers_the_original(browser, tmp_path):
    from playwright.sync_api import expect

    store, tokens = make_store(tmp_path, sets=3, annotators=["alice", "bob"], per_set=2, size=(96, 128))
    with Server(store) as server:
        page = _open(browser, server, tokens["alice"])
        fitted = page.evaluate(SCALES)[0]
        page.keyboard.press("0")
        assert page.evaluate(SCALES) == [1.0] * 5
        page.keyboard.press("+")
        page.keyboard.press("+")
        page.keyboard.press("ArrowRight")
        zoomed, centre = page.evaluate(SCALES), page.evaluate(CENTRE)
        assert zoomed == [1.5625] * 5 and centre[0] > 64
        _label_all(page, "ssss")
        page.keyboard.press("Enter")
        expect(page.locator("#setname")).to_contain_text("Set 2 of 3")
        assert page.evaluate(SCALES) == zoomed and page.evaluate(CENTRE) == pytest.approx(centre, abs=0.01)

        page.keyboard.press("3")
        original = page.locator('[data-slot="original"] img').get_attribute("src")
        version = page.locator('.cell[data-slot="3"] img').get_attribute("src")
        page.keyboard.down(" ")
        assert page.locator('.cell[data-slot="3"] img').get_attribute("src") == original
        expect(page.locator('.cell[data-slot="3"] .badge')).to_be_visible()
        assert page.evaluate(SCALES) == zoomed  # same zoom and position as the version
        page.keyboard.up(" ")
        assert page.locator('.cell[data-slot="3"] img').get_attribute("src") == version
        expect(page.locator('.cell[data-slot="3"] .badge')).to_be_hidden()
        page.keyboard.press("f")
        assert page.evaluate(SCALES)[0] == pytest.approx(fitted)


def test_layout_shows_a_512_crop_large_and_bad_links_get_a_clear_page(browser, tmp_path):
    from playwright.sync_api import expect

    store, tokens = make_store(tmp_path, sets=2, annotators=["alice", "bob"], per_set=2, size=(512, 512))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with Server(store) as server:
        for w, h in ((1920, 1080), (1366, 768)):
            page = _open(browser, server, tokens["alice"], (w, h))
            grid = page.evaluate(SCALES)[0]
            page.screenshot(path=str(SCREENSHOTS / f"annotation-{w}x{h}.png"))
            page.keyboard.press("l")
            pair = page.evaluate(SCALES)[0]
            page.keyboard.press("2")
            page.screenshot(path=str(SCREENSHOTS / f"annotation-{w}x{h}-pair.png"))
            page.keyboard.press("l")  # the choice is remembered: leave the next test its default
            if (w, h) == (1920, 1080):
                assert grid >= 0.8, grid
            assert pair > grid
            page.context.close()
        page = browser.new_page()
        page.goto(f"{server.url}/#token=not-a-token")
        expect(page.locator("#gate")).to_be_visible()
        expect(page.locator("#gate")).to_contain_text("This link does not work")
        expect(page.locator("main")).to_be_hidden()
        page.screenshot(path=str(SCREENSHOTS / "annotation-bad-link.png"))
        page.close()


def test_a_three_version_campaign_lays_out_three_panels_and_records_three_votes(browser, tmp_path):
    from playwright.sync_api import expect

    versions = ("01", "zoo", "03")
    store, tokens = make_store(tmp_path, sets=1, annotators=["alice"], per_set=1, versions=versions)
    with Server(store) as server:
        page = _open(browser, server, tokens["alice"])
        expect(page.locator(".cell[data-slot]")).to_have_count(3)
        submit = page.locator("#submit")
        for key in ("1", "p", "2", "s"):
            page.keyboard.press(key)
        expect(submit).to_be_disabled()  # the third version is still unlabelled
        page.keyboard.press("3")
        page.keyboard.press("n")
        expect(submit).to_be_enabled()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "annotation-three-versions.png"))
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_have_text("1 / 1 sets done")
    with sqlite3.connect(tmp_path / "annotation" / "votes.sqlite") as c:
        votes = dict(c.execute("SELECT version, label FROM votes WHERE annotator = 'alice'"))
    order = display_order("photo0-0-0", 0, versions)
    assert votes == dict(zip(order, ("Positive", "Similar", "Negative")))


def test_finished_sets_change_only_by_an_explicit_revision_and_partial_labels_survive(browser, tmp_path):
    from playwright.sync_api import expect

    store, tokens = make_store(tmp_path, sets=2, annotators=["alice"], per_set=1)
    with Server(store) as server:
        page = _open(browser, server, tokens["alice"], (1366, 768))
        _label_all(page, "ps")  # two of four, then away and back, then a reload: still there
        page.locator("#next").click()
        expect(page.locator("#setname")).to_contain_text("Set 2 of 2")
        page.keyboard.press("Backspace")
        expect(page.locator("#setname")).to_contain_text("Set 1 of 2")
        expect(page.locator('.cell[data-slot="2"] button.on')).to_have_text("Similar")
        page.reload()
        expect(page.locator('.cell[data-slot="1"] button.on')).to_have_text("Positive")
        expect(page.locator('.cell[data-slot="3"] button.on')).to_have_count(0)
        page.keyboard.press("Enter")
        expect(page.locator("#message")).to_have_text("Label all 4 versions first.")
        for key in ("3", "n", "4", "s"):
            page.keyboard.press(key)
        expect(page.locator("#message")).to_have_text("")  # answered: the reminder goes
        page.keyboard.press("Enter")
        expect(page.locator("#setname")).to_contain_text("Set 2 of 2")
        _label_all(page, "nnnn")
        page.keyboard.press("Enter")
        banner, submit = page.locator("#banner"), page.locator("#submit")
        expect(banner).to_contain_text("All 2 sets are done. Thank you!")
        assert page.evaluate("(() => { const b = document.getElementById('banner'); "
                             "return b.scrollWidth <= b.clientWidth && b.getBoundingClientRect().right <= innerWidth; })()")
        expect(submit).to_be_disabled()  # finished: nothing to submit
        expect(submit).to_have_text("Revise ⏎")
        page.keyboard.press("Enter")
        expect(page.locator("#message")).to_contain_text("change a label to revise it")
        page.keyboard.press("1")
        page.keyboard.press("p")
        expect(submit).to_be_enabled()
        expect(page.locator("#setname")).to_contain_text("changed")
        page.route("**/votes", lambda route: route.abort())  # the server is gone for a moment
        page.keyboard.press("Enter")
        expect(page.locator("#message")).to_contain_text("does not answer")
        page.unroute("**/votes")
        page.keyboard.press("Enter")
        expect(page.locator("#message")).to_contain_text("revised")
        expect(submit).to_be_disabled()
        page.screenshot(path=str(SCREENSHOTS / "annotation-finished-1366x768.png"))
    second = store.queue("alice")[1]["set_id"]
    with sqlite3.connect(store.path) as c:
        rows = c.execute("SELECT set_id, revision, seconds, revised_seconds, label FROM votes ORDER BY set_id").fetchall()
    assert len(rows) == 8 and {r[1] for r in rows if r[0] != second} == {1}
    revised = [r for r in rows if r[0] == second]
    assert {r[1] for r in revised} == {2} and all(r[2] > 0 and r[3] > 0 for r in revised)  # first time kept beside the revision's
    assert sorted(r[4] for r in revised) == ["Negative"] * 3 + ["Positive"]
