"""A folder of one's own pictures added in the sidebar, in Chromium: the map shows its held-out test images, and a
click on a point shows one of them under its subfolder's label. One `streamlit run app.py` serves the module."""

from __future__ import annotations

import re

import pytest
from folders import write_shapes
from playwright.sync_api import Page, expect
from streamlit_page import StreamlitApp, click_plot_point, isolated_points, open_app, wait_for_new_images

from aelab.data.registry import data_dir
from aelab.ui.map_figure import MAP_CELLS, MAP_POINTS

pytestmark = pytest.mark.timeout(400)

IMAGES = 60  # three class folders of coloured shapes; 12 held out for testing


@pytest.fixture(scope="module")
def served(streamlit_app: StreamlitApp, tmp_path_factory: pytest.TempPathFactory, settings) -> tuple[str, str]:
    tmp = tmp_path_factory.mktemp("aelab")
    folder = write_shapes(tmp / "pics", IMAGES)
    with settings(data_dir=data_dir(), cache_dir=tmp / "cache", runs_dir=tmp / "runs"):  # the server starts inside
        return streamlit_app("app.py"), str(folder)


def test_a_folder_added_in_the_sidebar_puts_its_pictures_on_the_map(page: Page, served: tuple[str, str]) -> None:
    url, folder = served
    app = open_app(page, url)
    expect(page.get_by_role("heading", name="Latent map", exact=True)).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Add a folder or zip").click()
    box = sidebar.get_by_role("textbox", name="Folder or zip of images")
    box.fill(folder)
    with app.expect_rerun():
        box.press("Enter")
    expect(
        page.get_by_text(re.compile(rf"^{IMAGES // 5} of the {IMAGES // 5} images of the test split of pics\."))
    ).to_be_visible()
    expect(sidebar.get_by_role("combobox", name="Dataset (test split)")).to_have_value("pics")

    chart = page.get_by_test_id("stPlotlyChart")
    gd = chart.locator(".js-plotly-plot").element_handle()
    page.wait_for_function("gd => gd._fullData && gd._fullData.length >= 2 && gd._fullLayout.xaxis", arg=gd)
    count = f"gd => gd._fullData.filter(t => t.legendgroup === '{MAP_POINTS}').reduce((n, t) => n + t.x.length, 0)"
    assert chart.locator(".js-plotly-plot").evaluate(count) == IMAGES // 5  # every test image of the folder
    point = isolated_points(chart, MAP_POINTS, (MAP_POINTS, MAP_CELLS), 6, 1)[0]
    with app.expect_rerun():
        click_plot_point(page, chart, point["x"], point["y"])
    expect(page.get_by_role("heading", name=f"Image {int(point['custom'][0])}", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^original · label (ellipse|square|triangle)$"))).to_be_visible()
    assert len(wait_for_new_images(page, [])) == 3  # the picture, its reconstruction, its nearest codes' pictures
