"""`make server PORT=...` serves a dashboard that reaches its own API, seen in Chromium."""

from __future__ import annotations

import shutil

import pytest

from tests.ops.conftest import api

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)"),
]


def test_dashboard_on_a_non_default_port_shows_its_runs(make_server):
    from playwright.sync_api import expect, sync_playwright

    env, url = make_server
    assert api(url.removesuffix("/api"), "/ui-settings")["api_url"] == url
    flow = api(url, "/flows/", {"name": "hggt-port-check"})
    api(url, "/flow_runs/", {"flow_id": flow["id"], "name": "dashboard-sees-this-run"})

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{url.removesuffix('/api')}/runs")
            expect(page.get_by_text("dashboard-sees-this-run").first).to_be_visible(timeout=30_000)
            assert "Can't connect to Server API" not in page.content()
        finally:
            browser.close()
