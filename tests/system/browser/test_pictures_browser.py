"""Pictures as a person sees them in Chromium: one size side by side, in view while sliding, never a
broken image however fast the sliders move, and tables that show every row.

What AppTest cannot see: rendered sizes, scrolling, and the browser fetching pictures while the
server reruns. One `streamlit run app.py` serves the module.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import ConsoleMessage, Page, Response, expect
from streamlit_page import StreamlitApp, click_plot_point, image_srcs, open_app, wait_for_app

from aelab.data.registry import data_dir

pytestmark = pytest.mark.timeout(400)

SHOWN_PX = 28 * 4  # widgets.show's default enlargement
KEY_PRESSES = 30  # per slider: each press commits a value, so each reruns the sliders' fragment
PRESS_GAP_S = 0.03  # faster than a rerun and the browser's fetch of its pictures


@pytest.fixture(scope="module")
def app_url(streamlit_app: StreamlitApp, tmp_path_factory: pytest.TempPathFactory, settings) -> str:
    tmp = tmp_path_factory.mktemp("aelab")
    with settings(data_dir=data_dir(), cache_dir=tmp / "cache", runs_dir=tmp / "runs"):  # the server starts inside
        return streamlit_app("app.py")


def _image_widths(page: Page, scope: str = "") -> list[float]:
    return page.evaluate(f"""() => [...document.querySelectorAll("{scope} [data-testid='stImage'] img")]
                             .map(i => i.getBoundingClientRect().width)""")


def test_fast_sliding_keeps_every_picture_loaded_and_in_view(page: Page, app_url: str) -> None:
    broken: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Image source error" in message.text:
            broken.append(message.text)

    def on_response(response: Response) -> None:
        if "/media/" in response.url and response.status >= 400:
            broken.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    open_app(page, f"{app_url}/traverse")
    expect(page.get_by_role("heading", name="Traverse", exact=True)).to_be_visible()
    image_srcs(page)

    box = page.locator(".st-key-z_sliders")  # the sliders scroll inside a box of fixed height
    inner, outer = box.evaluate("b => [b.scrollHeight, b.clientHeight]")
    assert inner > outer + 100, (inner, outer)
    pictures = page.get_by_test_id("stImage").filter(has_text="current decode")
    assert _image_widths(page)[:3] == [SHOWN_PX] * 3  # base, reconstruction, decode: one size

    sliders = box.get_by_test_id("stSlider")
    for n in range(3):
        sliders.nth(n).get_by_role("slider").focus()
        for _ in range(KEY_PRESSES):
            page.keyboard.press("ArrowRight" if n % 2 == 0 else "ArrowLeft")
            time.sleep(PRESS_GAP_S)
    wait_for_app(page)
    image_srcs(page)  # every picture on the page has loaded
    time.sleep(2)  # any late fetch of a dropped picture would fail by now
    assert not broken, broken

    box.evaluate("b => b.scrollTo(0, b.scrollHeight)")  # to the last slider: the pictures stay in view
    top = pictures.bounding_box()
    viewport = page.viewport_size
    assert top is not None and 0 <= top["y"] and top["y"] + top["height"] <= viewport["height"]


def test_the_maps_picture_and_its_reconstruction_show_at_one_size(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    chart = page.get_by_test_id("stPlotlyChart")
    gd = chart.locator(".js-plotly-plot").element_handle()
    page.wait_for_function("gd => gd._fullData && gd._fullData.length >= 2 && gd._fullLayout.xaxis", arg=gd)
    x, y = gd.evaluate("gd => [gd._fullData[0].x[0], gd._fullData[0].y[0]]")
    click_plot_point(page, chart, x, y)
    expect(page.get_by_role("heading", name=re.compile(r"^Image \d+$"))).to_be_visible()
    wait_for_app(page)  # the panel's run has ended: its pictures are drawn, not being replaced
    expect(page.locator("[data-testid='stImage'] img")).to_have_count(3)  # and the nearest codes' pictures
    image_srcs(page)
    assert _image_widths(page)[:2] == [SHOWN_PX, SHOWN_PX]  # a long caption no longer widens the original


def test_compare_metrics_show_every_row(page: Page, app_url: str) -> None:
    open_app(page, f"{app_url}/compare")
    page.get_by_role("tab", name="Metrics").click()
    table = page.get_by_test_id("stTable")
    expect(table).to_be_visible()
    wait_for_app(page)
    rows = table.locator("tr")
    expect(rows).to_have_count(14)  # the header and each of model_card.metric_rows' 13 metrics
    for row in range(rows.count()):  # a static table: every row drawn, none behind a scroll bar
        expect(rows.nth(row)).to_be_visible()
    cells = table.locator("td")
    widths = cells.evaluate_all("cells => cells.map(c => c.scrollWidth <= c.clientWidth + 1)")
    assert all(widths)  # nothing cut at a cell's edge: long words wrap
