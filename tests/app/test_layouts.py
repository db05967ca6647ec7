"""Every version count (2-8) in both layouts at 1366x768 and 1920x1080: no control overflows its
bar or the window, every view is usable, and the original is captioned on its image. Screenshots
of each go to test-artifacts/layouts/."""

from __future__ import annotations

import shutil

import pytest

from tests.app.conftest import Server, make_store
from tests.app.test_browser import CHROMIUM, SCREENSHOTS, _open, browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)")

COUNTS = [2, 3, 4, 5, 6, 7, 8]
SIZES = [(1366, 768), (1920, 1080)]

# Measured in the page, independently of how the CSS lays things out: rectangles and scroll sizes.
PROBLEMS = """(() => {
  const name = (el) => el.id ? `#${el.id}` : `${el.className || el.tagName}${el.dataset.label ? ' ' + el.dataset.label : ''}` +
    (el.closest('[data-slot]') ? ` of slot ${el.closest('[data-slot]').dataset.slot}` : '');
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const bad = [];
  for (const el of document.querySelectorAll('header *, .labels, .labels *, .tag, #banner')) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.top < -0.5 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5) bad.push(`${name(el)} outside the window`);
  }
  for (const box of document.querySelectorAll('header, header nav, .labels')) {
    if (!shown(box)) continue;
    if (box.scrollWidth > box.clientWidth + 1) bad.push(`${name(box)} overflows by ${box.scrollWidth - box.clientWidth} px`);
    const outer = box.getBoundingClientRect();
    for (const el of box.querySelectorAll('button, .slot, .caption')) {
      const r = el.getBoundingClientRect();
      if (shown(el) && (r.left < outer.left - 0.5 || r.right > outer.right + 0.5 || r.bottom > outer.bottom + 0.5)) bad.push(`${name(el)} clipped`);
    }
  }
  for (const v of document.querySelectorAll('.view')) {
    if (shown(v) && (v.clientWidth < 120 || v.clientHeight < 120)) bad.push(`${name(v.parentElement)} view only ${v.clientWidth}x${v.clientHeight}`);
  }
  const tag = document.querySelector('[data-slot="original"] .tag');
  if (!tag || !shown(tag) || !/original/i.test(tag.textContent)) bad.push('the original has no caption');
  return bad;
})()"""


@pytest.mark.slow
def test_every_version_count_fits_both_layouts_at_both_sizes(browser, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    store, tokens = make_store(tmp_path, sets=len(COUNTS), annotators=["alice"], per_set=1, size=(64, 64), counts=COUNTS)
    counts = {s["set_id"]: len(s["display_order"]) for s in store.sets()}
    order = [counts[q["set_id"]] for q in store.queue("alice")]
    shots = SCREENSHOTS / "layouts"
    shots.mkdir(parents=True, exist_ok=True)
    problems = {}
    with Server(store) as server:
        for w, h in SIZES:
            page = _open(browser, server, tokens["alice"], (w, h))
            for i, n in enumerate(order):
                if i:
                    page.locator("#next").click()
                expect(page.locator("#setname")).to_contain_text(f"Set {i + 1} of")
                expect(page.locator(".cell[data-slot]")).to_have_count(n)
                for layout in ("grid", "pair"):
                    if page.evaluate("document.getElementById('work').className") != layout:
                        page.keyboard.press("l")
                    page.keyboard.press(str(n))  # the last version picked: in pair mode its view is the big one
                    found = page.evaluate(PROBLEMS)
                    if found:
                        problems[(w, h, n, layout)] = found
                    page.screenshot(path=str(shots / f"{n}-versions-{layout}-{w}x{h}.png"))
            page.context.close()
    assert not problems, problems
