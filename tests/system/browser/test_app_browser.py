"""The real aelab app in headless Chromium, driven the way a person drives it.

One `streamlit run app.py` serves the module (its first page load encodes the MNIST test
split once). Each test opens its own browser context, so its own Streamlit session: click
the latent map, drag a traversal slider, upload pictures, train and stop, and several
people at once. Assertions are on what the person sees (headings, images, messages),
with the map's coordinates read from the chart Plotly drew.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from streamlit_page import (
    TIMEOUT_MS,
    VIEWPORT,
    AppSocket,
    StreamlitApp,
    click_plot_point,
    click_to_shown_seconds,
    drag_slider,
    draw_stroke,
    image_srcs,
    isolated_points,
    open_app,
    plot_to_client,
    recorded_toasts,
    start_click_recorder,
    upload_file,
    wait_for_app,
    wait_for_new_images,
)

from aelab.data.registry import data_dir
from aelab.explore.selection import GALLERY_COLUMNS
from aelab.ui.map_detail import NEAREST_COLUMNS
from aelab.ui.map_figure import MAP_CELLS, MAP_POINTS

pytestmark = pytest.mark.timeout(400)

UPLOADER = "Images (PNG, JPEG, BMP, GIF, WebP)"
MIN_DIGIT_PX = 54  # a digit's on-screen width in the map's galleries: twice MNIST's 28 px, give or take its pad
N_SESSIONS = 5
ARRIVAL_TIMEOUT_MS = 300_000  # N_SESSIONS first page loads at once: every one parses Plotly's 4.7 MB
EPOCH_TIMEOUT_MS = 240_000  # two epochs on a busy 2-core machine
TRAIN_EPOCHS = 500  # the most allowed: the run still goes when Stop is pressed (an epoch can take < 1 s)

# Epochs drawn on the Train page's loss chart. Looked up afresh on every call: the chart is
# re-mounted when the page's layout changes (e.g. when the run ends), so a held handle goes stale.
_LOSS_CHART_EPOCHS = """() => {
  const gd = [...document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")]
    .find(g => g.textContent.includes('Loss (nats per image)'));
  return gd && gd._fullData ? gd._fullData[0].x.length : 0;
}"""


@pytest.fixture(scope="module")
def app_url(streamlit_app: StreamlitApp, tmp_path_factory: pytest.TempPathFactory, settings) -> str:
    """One server for the module, with private caches and a private folder for trained models."""
    tmp = tmp_path_factory.mktemp("aelab")
    with settings(data_dir=data_dir(), cache_dir=tmp / "cache", runs_dir=tmp / "runs"):  # the server starts inside
        return streamlit_app("app.py")


@pytest.fixture
def app(page: Page, app_url: str) -> AppSocket:
    """A fresh session on the app's opening page (the latent map), its chart drawn."""
    socket = open_app(page, app_url)
    expect(page.get_by_role("heading", name="Latent map", exact=True)).to_be_visible()
    _map_chart(page)
    return socket


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """N_SESSIONS browser contexts: separate people, sharing nothing but the server."""
    made = [browser.new_context(viewport=VIEWPORT) for _ in range(N_SESSIONS)]
    try:
        for context in made:
            context.set_default_timeout(TIMEOUT_MS)
        yield made
    finally:
        for context in made:
            context.close()


def _map_chart(page: Page) -> Locator:
    """The latent map, once Plotly has drawn its traces."""
    chart = page.get_by_test_id("stPlotlyChart")
    chart.locator(".js-plotly-plot").wait_for()
    gd = chart.locator(".js-plotly-plot").element_handle()
    page.wait_for_function("gd => gd._fullData && gd._fullData.length >= 2 && gd._fullLayout.xaxis", arg=gd)
    return chart


def _go_to(page: Page, app: AppSocket, title: str, heading: str | None = None) -> None:
    """Follow the sidebar's navigation link to page `title`, as a person would."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(rf"{re.escape(title)}$"))
    with app.expect_rerun():
        link.click()
    expect(page.get_by_role("heading", name=heading or title, exact=True)).to_be_visible()


def _colour_at(page: Page, chart: Locator, x: float, y: float) -> tuple[int, int, int]:
    """The colour the map shows at DATA coordinates (x, y), the mouse moved away (no hover label)."""
    page.mouse.move(1, 1)
    cx, cy = plot_to_client(page, chart, x, y)
    shot = page.screenshot(clip={"x": round(cx) - 1, "y": round(cy) - 1, "width": 3, "height": 3})
    return Image.open(io.BytesIO(shot)).convert("RGB").getpixel((1, 1))


def _marked(chart: Locator) -> dict[str, list[list[int]]]:
    """The map's selected points as Plotly holds them in the page: [curve, index] pairs of its points'
    traces and of its cells."""
    return chart.locator(".js-plotly-plot").evaluate(
        """(gd, groups) => Object.fromEntries(groups.map(g => [g, gd._fullData.filter(t => t.legendgroup === g)
             .flatMap(t => Array.from(t.selectedpoints || [], i => [t.index, i]))]))""",
        [MAP_POINTS, MAP_CELLS],
    )


def _digit_px(image: Locator, columns: int, pad: int = 2) -> float:
    """The on-screen width of one 28 px digit of a grid drawn as one image, `columns` digits a row `pad` px
    apart (make_grid's), however much the PNG enlarged them and the page then shrank them."""
    shown = image.evaluate("i => i.getBoundingClientRect().width")
    return shown / columns * 28 / (28 + pad)


def _model_picker(page: Page) -> Locator:
    picker_label = page.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(r"^Model$"))
    return page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has=picker_label)


def _mnist_png(path: Path, index: int) -> None:
    """MNIST test image `index` as a person's scan: black ink on white paper, enlarged."""
    from aelab.data.registry import load_dataset

    digit = load_dataset("mnist", "test", download=False).images[index, 0].numpy()
    ink = np.kron(digit, np.ones((4, 4), np.float32))
    Image.fromarray(np.round(255 * (1 - ink)).astype(np.uint8)).save(path)


def test_click_point_shows_it_and_empty_space_decodes(page: Page, app: AppSocket) -> None:
    chart = _map_chart(page)
    expect(page.get_by_text("Click a point on the map to see its image and reconstruction.")).to_be_visible()
    point = isolated_points(chart, MAP_POINTS, (MAP_POINTS, MAP_CELLS), 6, 1)[0]
    index, label = (int(v) for v in point["custom"])  # dataset index, digit
    gd = chart.locator(".js-plotly-plot").element_handle()
    assert max(_colour_at(page, chart, point["x"], point["y"])) > 100  # a coloured point, not yet marked

    with app.expect_rerun():
        assert click_plot_point(page, chart, point["x"], point["y"]) == (point["curve"], point["index"])
    expect(page.get_by_role("heading", name=f"Image {index}", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(rf"^original · label {label} - [a-z]+$"))).to_be_visible()
    error = re.compile(r"^Reconstruction error \d\.\d{4} \(mean squared, per pixel\)$")
    expect(page.get_by_text(error)).to_be_visible()
    shown = wait_for_new_images(page, [])
    assert len(shown) == 3  # original, reconstruction and its nearest codes' pictures
    strip = page.locator(f"img[src='{shown[2]}']")
    assert _digit_px(strip, NEAREST_COLUMNS) >= MIN_DIGIT_PX  # the nearest codes' digits at a useful size
    assert _marked(chart) == {MAP_POINTS: [[point["curve"], point["index"]]], MAP_CELLS: []}
    assert max(_colour_at(page, chart, point["x"], point["y"])) < 60  # marked: drawn black
    assert gd.evaluate("gd => gd.isConnected")  # the same chart: the click reran the panel, not the map

    spot = isolated_points(chart, MAP_CELLS, (MAP_POINTS,), 12, 1)[0]  # a grid cell with no dataset point near it
    assert min(_colour_at(page, chart, spot["x"], spot["y"])) > 200  # empty space looks empty
    with app.expect_rerun():
        assert click_plot_point(page, chart, spot["x"], spot["y"]) == (spot["curve"], spot["index"])
    expect(page.get_by_role("heading", name="Decoded location", exact=True)).to_be_visible()
    expect(page.get_by_text(f"PCA ({spot['x']:.2f}, {spot['y']:.2f})", exact=True)).to_be_visible()
    decoded = wait_for_new_images(page, shown)
    assert len(decoded) == 1 and decoded[0] not in shown
    # the point is no longer marked; the spot is, by an X
    assert _marked(chart) == {MAP_POINTS: [], MAP_CELLS: [[spot["curve"], spot["index"]]]}
    assert max(_colour_at(page, chart, spot["x"], spot["y"])) < 60
    assert max(_colour_at(page, chart, point["x"], point["y"])) > 100
    assert gd.evaluate("gd => gd.isConnected")


def test_another_model_drops_the_selection(page: Page, app: AppSocket) -> None:
    chart = _map_chart(page)
    point = isolated_points(chart, MAP_POINTS, (MAP_POINTS, MAP_CELLS), 6, 1)[0]
    with app.expect_rerun():
        click_plot_point(page, chart, point["x"], point["y"])
    heading = page.get_by_role("heading", name=f"Image {int(point['custom'][0])}", exact=True)
    expect(heading).to_be_visible()

    _model_picker(page).click()
    with app.expect_rerun():
        page.get_by_role("option", name="conv_vae", exact=True).click()
    expect(page.get_by_test_id("stSidebar").get_by_text("Convolutional VAE, 20-d latent")).to_be_visible()
    expect(page.get_by_text("Click a point on the map to see its image and reconstruction.")).to_be_visible()
    expect(heading).to_have_count(0)
    chart = _map_chart(page)  # the other model's map, nothing marked on it
    assert _marked(chart) == {MAP_POINTS: [], MAP_CELLS: []}


def test_traversal_slider_drag_changes_the_decode(page: Page, app: AppSocket) -> None:
    _go_to(page, app, "Traverse")
    first = page.get_by_test_id("stSlider").first
    label = first.get_by_test_id("stWidgetLabel").inner_text()
    assert re.fullmatch(r"dim \d+ · KL \d+\.\d\d", label), label  # the most used dimension comes first
    before_value = first.get_by_test_id("stSliderThumbValue").inner_text()
    expect(page.get_by_test_id("stImage").locator("img")).to_have_count(4)  # base, recon, decode, grid
    before = image_srcs(page)

    now, low, high = first.locator("input[type=range]").evaluate("i => [+i.value, +i.min, +i.max]")
    fraction = 0.1 if (now - low) / (high - low) > 0.5 else 0.9  # well away from the base's value
    with app.expect_rerun():
        after_value = drag_slider(page, label, fraction)
    assert after_value != before_value
    after = wait_for_new_images(page, before)
    assert after[:2] == before[:2] and after[3] == before[3]  # only the current decode changed
    assert after[2] != before[2]


def test_direction_slider_drag_changes_the_decode(page: Page, app: AppSocket) -> None:
    _go_to(page, app, "Directions")
    first = page.get_by_test_id("stSlider").filter(has=page.get_by_text(re.compile(r"^PC 1 · "))).first
    label = first.get_by_test_id("stWidgetLabel").inner_text()
    assert re.fullmatch(r"PC 1 · \d+\.\d% of variance", label), label
    expect(page.get_by_test_id("stImage").locator("img")).to_have_count(5)  # base, recon, decode, grid, GIF
    before = image_srcs(page)
    with app.expect_rerun():
        after_value = drag_slider(page, label, 0.9)
    assert re.fullmatch(r"\d+\.\d\d sd", after_value) and float(after_value.split()[0]) > 0  # standard deviations
    after = wait_for_new_images(page, before)
    assert after[:2] == before[:2] and after[3:] == before[3:]  # only the current decode changed
    assert after[2] != before[2]


def test_upload_is_prepared_scored_and_drawn_on_the_map(page: Page, app: AppSocket, tmp_path: Path) -> None:
    from aelab.images.recipe import preprocess_bytes

    _go_to(page, app, "Reconstruct")
    digit = tmp_path / "my_seven.png"
    _mnist_png(digit, 0)
    with app.expect_rerun():
        upload_file(page, UPLOADER, digit)
    card = (
        page.get_by_test_id("stVerticalBlock")  # the bordered box under the file's bold name
        .filter(has=page.locator("strong", has_text="my_seven.png"))
        .filter(has_not=page.get_by_test_id("stFileUploader"))
    )
    expect(card).to_have_count(1)
    steps = [title for title, _ in preprocess_bytes(digit.read_bytes(), digit.name).steps]
    for title in steps + ["model input", "reconstruction", "difference"]:
        expect(card.get_by_text(title, exact=True)).to_be_visible()
    expect(
        card.get_by_text(
            re.compile(
                r"^score \S+ — (higher than \d+%|higher than under 1%|no higher than any|higher than every) "
                r"(of )?MNIST test images?: (typical|unusual|flagged) \(flagged above \S+\)$"
            )
        )
    ).to_be_visible()
    expect(card.get_by_test_id("stImage").locator("img")).to_have_count(len(steps) + 3)
    image_srcs(page)  # every image actually loads

    text = tmp_path / "notes.png"
    text.write_text("shopping list: milk, eggs\n")
    with app.expect_rerun():
        upload_file(page, UPLOADER, text)
    uploader_column = page.get_by_test_id("stColumn").filter(has=page.get_by_test_id("stFileUploader"))
    error = uploader_column.get_by_test_id("stAlertContentError").get_by_test_id("stMarkdownContainer")
    expect(error).to_have_count(1)
    expect(error).to_have_text("notes.png: This is not an image file PIL can read (text/plain?).")
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(1)
    expect(card).to_have_count(1)  # the good upload is still there, and the page still reruns:
    before = image_srcs(page)
    with app.expect_rerun():
        page.get_by_role("button", name="Draw one at random").click()
    wait_for_new_images(page, before)
    expect(page.get_by_text("1 image(s) kept for the other pages", exact=False)).to_be_visible()

    _go_to(page, app, "Latent map")
    gd = _map_chart(page).locator(".js-plotly-plot").element_handle()
    page.wait_for_function("gd => gd._fullData.some(t => t.name === 'your uploads')", arg=gd)
    uploads = gd.evaluate("gd => gd._fullData.filter(t => t.name === 'your uploads').map(t => Array.from(t.text))")
    assert uploads == [["my_seven.png"]]  # one star, labelled with the good file's name


def test_sessions_keep_their_own_selection(contexts: list[BrowserContext], app_url: str) -> None:
    pages = [context.new_page() for context in contexts]
    sockets = [AppSocket(page) for page in pages]
    started = time.monotonic()
    for page in pages:  # everyone arrives at once
        page.goto(app_url, wait_until="commit")
    charts = []
    for page, socket in zip(pages, sockets):
        page.get_by_test_id("stPlotlyChart").locator(".js-plotly-plot").wait_for(timeout=ARRIVAL_TIMEOUT_MS)
        socket.wait_for_runs(1)
        charts.append(_map_chart(page))
    opened = time.monotonic() - started

    points = isolated_points(charts[0], MAP_POINTS, (MAP_POINTS, MAP_CELLS), 4, len(pages))
    indices = [int(p["custom"][0]) for p in points]
    assert len(set(indices)) == len(pages)
    for page, chart, point, index in zip(pages, charts, points, indices):  # everyone clicks at once
        start_click_recorder(page, f"Image {index}")
        assert click_plot_point(page, chart, point["x"], point["y"]) == (point["curve"], point["index"])
    for socket in sockets:
        socket.wait_for_runs(2)
    latencies = [click_to_shown_seconds(page) for page in pages]

    for page in pages:  # a further rerun in every session, at once: each still holds its own pick
        page.get_by_role("button", name="Use as interpolation A").click()
    for page, socket, index in zip(pages, sockets, indices):
        socket.wait_for_runs(3)
        assert recorded_toasts(page) == [f"Image {index} is interpolation endpoint A"]
        expect(page.get_by_role("heading", name=re.compile(r"^Image \d+$"))).to_have_text(f"Image {index}")
    print(
        f"\n{len(pages)} sessions: opened together in {opened:.1f} s; click to detail shown (s): "
        + ", ".join(f"{t:.1f}" for t in latencies)
    )


def test_train_then_stop_adds_the_model(page: Page, app: AppSocket) -> None:
    _go_to(page, app, "Train", heading="Train a model")
    # A run that only Stop ends; every other setting stays at its default (an MLP VAE on MNIST).
    page.get_by_text("Optimiser and stopping", exact=True).click()  # the expander
    for label, value in (("Early-stopping patience (epochs)", 0), ("Epochs", TRAIN_EPOCHS)):
        field = page.get_by_label(label, exact=True)
        with app.expect_rerun():
            field.fill(str(value))
            field.press("Enter")
    run_name = page.get_by_label("Run name", exact=True)
    expect(run_name).to_have_value(re.compile(rf"^vae-mnist-z\d+-{TRAIN_EPOCHS}ep$"))  # the name follows
    name = run_name.input_value()

    page.get_by_role("button", name=re.compile(r"\bTrain$")).click()
    page.wait_for_function(f"({_LOSS_CHART_EPOCHS})() >= 2", timeout=EPOCH_TIMEOUT_MS)  # drawn, then redrawn
    expect(page.get_by_text(re.compile(r"bottom: reconstructions after epoch \d+\.$"))).to_be_visible()

    page.get_by_role("button", name=re.compile(r"\bStop$")).click()
    stopped = page.get_by_test_id("stAlertContentInfo").filter(has_text=re.compile(r"^Stopped after"))
    expect(stopped).to_be_visible(timeout=EPOCH_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Open this model")).to_be_visible()
    wait_for_app(page)

    _model_picker(page).click()
    expect(page.get_by_role("option", name=f"{name} (yours)", exact=True)).to_be_visible()


def test_a_box_around_points_shows_that_group_and_greys_the_rest(page: Page, app: AppSocket) -> None:
    chart = _map_chart(page)
    box = (0.0, 0.0, 1.0, 1.0)  # PCA data coordinates: x0, y0, x1, y1
    inside, outside = chart.locator(".js-plotly-plot").evaluate(
        """(gd, [[x0, y0, x1, y1], group]) => {
        let n = 0, away = null;
        for (const t of gd._fullData.filter(t => t.legendgroup === group))
          for (let i = 0; i < t.x.length; i++) {
            if (t.x[i] > x0 && t.x[i] < x1 && t.y[i] > y0 && t.y[i] < y1) n++;
            else if (away === null && Math.abs(t.x[i] - 2.5) < 0.5 && Math.abs(t.y[i] + 1.5) < 0.5)
              away = [t.x[i], t.y[i]];
          }
        return [n, away]; }""",
        [list(box), MAP_POINTS],
    )
    assert inside > 50 and outside is not None
    chart.hover()
    chart.locator('[data-title="Box Select"]').click()
    (x0, y0), (x1, y1) = plot_to_client(page, chart, box[0], box[3]), plot_to_client(page, chart, box[2], box[1])
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=10)
    page.mouse.up()
    heading = page.get_by_role("heading", name=re.compile(r"^\d+ images selected$"))
    expect(heading).to_be_visible()
    selected = int(heading.inner_text().split()[0])
    assert abs(selected - inside) <= 0.05 * inside  # the box's edge falls within a pixel or two of (0, 1)
    expect(page.get_by_text(re.compile(r"^By label: \d - [a-z]+ \d+"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"each row of originals above its reconstructions$"))).to_be_visible()
    gallery = page.get_by_test_id("stImage").filter(has_text="each row of originals above its reconstructions")
    assert _digit_px(gallery.locator("img"), GALLERY_COLUMNS) >= MIN_DIGIT_PX
    for name in ("Gallery (PNG)", "Indices, labels and codes (CSV)"):
        expect(page.get_by_test_id("stDownloadButton").filter(has_text=name)).to_be_visible()
    chart = _map_chart(page)  # drawn again, the rest in grey
    assert len(_marked(chart)[MAP_POINTS]) == selected  # the map holds what the panel counts
    r, g, b = _colour_at(page, chart, *outside)
    assert abs(r - g) < 8 and abs(g - b) < 8 and r > 180  # an outside point: grey


def _points_inside(chart: Locator, box: tuple[float, float, float, float]) -> int:
    """How many of the map's points lie inside a box of DATA coordinates (x0, y0, x1, y1)."""
    return chart.locator(".js-plotly-plot").evaluate(
        """(gd, [[x0, y0, x1, y1], group]) => gd._fullData.filter(t => t.legendgroup === group)
             .reduce((n, t) => n + Array.from(t.x).filter((x, i) => x > x0 && x < x1 && t.y[i] > y0 && t.y[i] < y1)
             .length, 0)""",
        [list(box), MAP_POINTS],
    )


def _drag(page: Page, chart: Locator, box: tuple[float, float, float, float]) -> None:
    """Press at the box's top left corner and let go at its bottom right, as a person drags on the map."""
    (x0, y0), (x1, y1) = plot_to_client(page, chart, box[0], box[3]), plot_to_client(page, chart, box[2], box[1])
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=10)
    page.mouse.up()


def test_the_box_tool_stays_chosen_after_a_selection(page: Page, app: AppSocket) -> None:
    """A person picks the box tool once: each rerun a selection makes keeps it, so the next drag selects again."""
    chart = _map_chart(page)
    first, second = (0.0, 0.0, 1.0, 1.0), (-1.0, -1.0, 0.0, 0.0)
    counts = [_points_inside(chart, box) for box in (first, second)]
    assert min(counts) > 50 and abs(counts[0] - counts[1]) > 0.1 * max(counts)  # two selections told apart
    chart.hover()
    chart.locator('[data-title="Box Select"]').click()
    heading = page.get_by_role("heading", name=re.compile(r"^\d+ images selected$"))
    for box, count in zip((first, second), counts):
        _drag(page, _map_chart(page), box)
        expect(heading).to_be_visible()
        page.wait_for_function(
            "n => [...document.querySelectorAll('h2, h3')].some(h => "
            "/^\\d+ images selected$/.test(h.innerText) && Math.abs(parseInt(h.innerText) - n) <= 0.05 * n)",
            arg=count,
        )
        wait_for_app(page)
        chart = _map_chart(page)  # drawn again after the selection, the rest in grey
        assert chart.locator(".js-plotly-plot").evaluate("gd => gd._fullLayout.dragmode") == "select"
        with app.expect_rerun():  # the tool kept, a double-click no longer clears: the panel's button does
            page.get_by_role("button", name="Clear selection").click()
        expect(page.get_by_role("heading", name=re.compile(r"^\d+ images selected$"))).to_have_count(0)


def _drawing_on_map(page: Page) -> list[float]:
    """Where the Draw page's map puts the drawing, once it is drawn there."""
    chart = page.get_by_test_id("stPlotlyChart")
    gd = chart.locator(".js-plotly-plot").element_handle()
    page.wait_for_function("gd => gd._fullData && gd._fullData.some(t => t.name === 'your drawing')", arg=gd)
    return gd.evaluate(
        "gd => { const t = gd._fullData.find(t => t.name === 'your drawing'); return [t.x[0], t.y[0]]; }"
    )


def test_drawing_a_digit_shows_its_input_reconstruction_and_place_on_the_map(page: Page, app: AppSocket) -> None:
    _go_to(page, app, "Draw")
    expect(page.get_by_text(re.compile(r"^Draw a digit on the black square: its reconstruction"))).to_be_visible()
    canvas = page.locator("canvas").last  # Fabric.js draws on the top one of its stacked canvases
    with app.expect_rerun():
        draw_stroke(page, canvas, (0.35, 0.2), (0.65, 0.2))
    with app.expect_rerun():
        draw_stroke(page, canvas, (0.65, 0.2), (0.45, 0.85))  # a "7"
    expect(page.get_by_text("reconstruction", exact=True)).to_be_visible()
    expect(page.get_by_text("model input", exact=True)).to_be_visible()
    seven = _drawing_on_map(page)
    for digit in ("0 - zero", "7 - seven"):  # the map's colours are named above it, as on the Latent map page
        expect(page.locator("span", has_text=re.compile(rf"{digit}$")).first).to_be_visible()
    shown = wait_for_new_images(page, [])
    with app.expect_rerun():
        draw_stroke(page, canvas, (0.3, 0.55), (0.7, 0.55))  # a bar across: now another figure
    assert wait_for_new_images(page, shown) != shown
    page.wait_for_function(
        "([before]) => { const gd = document.querySelector('[data-testid=stPlotlyChart] "
        ".js-plotly-plot'); const t = gd && gd._fullData && gd._fullData.find("
        "t => t.name === 'your drawing'); return t && (t.x[0] !== before[0] || t.y[0] !== before[1]); }",
        arg=[seven],
    )
    with app.expect_rerun():
        page.get_by_role("button", name="Keep as an upload").click()
    expect(page.get_by_text("Kept as drawing")).to_be_visible()


def test_an_uploaded_checkpoint_is_listed_and_a_hostile_one_gets_one_line(
    page: Page, app: AppSocket, tmp_path: Path
) -> None:
    from aelab.settings import SHIPPED_DIR

    mine = tmp_path / "my model.safetensors"
    mine.write_bytes((SHIPPED_DIR / "conv_ae.safetensors").read_bytes())
    page.get_by_test_id("stSidebar").get_by_text("Add a checkpoint").click()
    with app.expect_rerun():
        upload_file(page, "aelab checkpoints (.safetensors)", mine)
    picker = _model_picker(page)
    picker.click()
    expect(page.get_by_role("option", name="my-model (uploaded)", exact=True)).to_be_visible()
    with app.expect_rerun():
        page.get_by_role("option", name="my-model (uploaded)", exact=True).click()
    expect(page.get_by_test_id("stSidebar").get_by_text("Convolutional autoencoder, 32-d latent")).to_be_visible()

    header = b'{"__metadata__": {"aelab": "{\\"model\\": {\\"name\\": \\"vae\\", \\"widths\\": [200000]}}"}}'
    hostile = tmp_path / "huge.safetensors"
    hostile.write_bytes(len(header).to_bytes(8, "little") + header)
    with app.expect_rerun():
        upload_file(page, "aelab checkpoints (.safetensors)", hostile)
    errors = page.get_by_test_id("stSidebar").get_by_test_id("stAlertContentError")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("huge.safetensors")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    picker.click()
    expect(page.get_by_role("option", name="huge (uploaded)", exact=True)).to_have_count(0)
