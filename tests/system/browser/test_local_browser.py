"""A local app in Chromium makes no request to another host: every page, its icons and fonts come from the app.

One `streamlit run app.py` bound to 127.0.0.1 serves the module; the browser context records every request
it makes (a failed one too: offline, a request to another host fails, but it was still made).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, expect
from streamlit_page import TIMEOUT_MS, VIEWPORT, StreamlitApp, open_app, wait_for_app

from aelab.data.registry import data_dir
from aelab.ui import navigation

pytestmark = pytest.mark.timeout(600)

SETTLE_MS = 1500  # after a page is drawn: time for the browser to ask for its icon and fonts


@pytest.fixture(scope="module")
def app_url(streamlit_app: StreamlitApp, tmp_path_factory: pytest.TempPathFactory, settings) -> str:
    tmp = tmp_path_factory.mktemp("aelab")
    with settings(data_dir=data_dir(), cache_dir=tmp / "cache", runs_dir=tmp / "runs"):  # the server starts inside
        return streamlit_app("app.py")


def test_no_page_makes_a_request_to_another_host(browser: Browser, app_url: str) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        page = context.new_page()
        for spec in navigation.PAGES:
            path = "" if spec is navigation.DEFAULT else Path(spec.script).stem
            open_app(page, f"{app_url}/{path}")  # a fresh load of each page, as a link or a reload does
            wait_for_app(page)
            expect(page.get_by_test_id("stSidebarNav")).to_be_visible()  # its icons drawn too
            page.wait_for_timeout(SETTLE_MS)
    finally:
        context.close()
    own = urlparse(app_url).netloc
    elsewhere = sorted(
        {
            url
            for url in requested
            if urlparse(url).scheme in ("http", "https", "ws", "wss") and urlparse(url).netloc != own
        }
    )
    assert len(requested) > len(navigation.PAGES) and not elsewhere, elsewhere
