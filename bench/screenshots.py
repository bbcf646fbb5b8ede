"""Full-page screenshots of the app's pages in headless Chromium, to look at what a person sees.

Not a benchmark: a way to check sizes, alignment and labels by eye after changing a page.
Each shot opens a fresh session, sets the page up the way a person would (sidebar model,
uploads, a slider, a tab) and saves `<out>/<name>.png`. `--offline` starts the server with an
empty data folder, so the app falls back to scikit-learn's digits.

    AELAB_DATA_DIR=../shared/datasets python bench/screenshots.py /tmp/shots [names...] [--offline]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "system" / "browser")]
from streamlit_page import (  # noqa: E402
    CHROMIUM_ARGS,
    click_plot_point,
    drag_slider,
    draw_stroke,
    open_app,
    plot_to_client,
    server_command,
    upload_file,
    wait_for_app,
)

VIEWPORT = {"width": 1400, "height": 1000}
# Not the app's: a sub-page's deep-path probes of /_stcore/, the font server offline, and the lines the
# browser prints for each (the responses themselves are reported with their URLs)
NOISE = re.compile(r"/_stcore/(health|host-config)|Failed to load resource")
MAX_HEIGHT = 8000  # px of a screenshot; a longer page is cut


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        server_command("app.py", port),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the server did not start")


def digit_files(folder: Path) -> list[Path]:
    """Two uploads a person might make: an MNIST digit scanned black on white, and a hand-drawn wide 7."""
    from aelab.data.registry import load_dataset

    digit = load_dataset("mnist", "test", download=False).images[0, 0].numpy()
    scan = folder / "scanned_seven.png"
    Image.fromarray(np.round(255 * (1 - np.kron(digit, np.ones((4, 4))))).astype(np.uint8)).save(scan)
    wide = np.full((90, 300), 255, np.uint8)
    wide[10:22, 20:280] = 0
    for row in range(22, 85):
        col = 270 - 2 * (row - 22)
        wide[row, col - 8 : col + 8] = 0
    drawn = folder / "wide_drawing.png"
    Image.fromarray(wide).save(drawn)
    return [scan, drawn]


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label`."""
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    time.sleep(1)
    wait_for_app(page)


def go(page: Page, url: str, path: str, model: str | None = None) -> None:
    open_app(page, f"{url}/{path}")
    if model:
        choose(page, "Model", model)


def settle(page: Page) -> None:
    time.sleep(1.5)
    wait_for_app(page)
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=120_000)


def shot_map(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "")
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.locator(".js-plotly-plot").wait_for()
    gd = chart.locator(".js-plotly-plot").element_handle()
    page.wait_for_function("gd => gd._fullData && gd._fullData.length >= 2", arg=gd)
    x, y = gd.evaluate("gd => [gd._fullData[0].x[0], gd._fullData[0].y[0]]")
    click_plot_point(page, chart, x, y)


def shot_map_train(page: Page, url: str, files: list[Path]) -> None:
    """The map of the training split's codes, encoded when asked, and a point of it clicked."""
    go(page, url, "")
    page.get_by_test_id("stRadio").filter(has_text="Codes of").get_by_text(re.compile("^the training split")).click()
    page.get_by_role("button", name="Encode them").click()
    page.get_by_text(re.compile(r"of the training split of")).wait_for(timeout=300_000)
    chart = page.get_by_test_id("stPlotlyChart").first
    gd = chart.locator(".js-plotly-plot").element_handle()
    page.wait_for_function("gd => gd._fullData && gd._fullData.length >= 2", arg=gd)
    x, y = gd.evaluate("gd => [gd._fullData[0].x[0], gd._fullData[0].y[0]]")
    click_plot_point(page, chart, x, y)
    page.get_by_role("heading", name=re.compile(r"^Image \d+")).wait_for()
    wait_for_app(page)


def shot_map_box(page: Page, url: str, files: list[Path]) -> None:
    """A box drawn around the map's centre with the toolbar's Box Select."""
    go(page, url, "")
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.locator(".js-plotly-plot").wait_for()
    chart.hover()
    chart.locator('[data-title="Box Select"]').click()
    (x0, y0), (x1, y1) = plot_to_client(page, chart, 0.0, 1.0), plot_to_client(page, chart, 1.0, 0.0)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=10)
    page.mouse.up()
    page.get_by_role("heading", name=re.compile(r"images selected$")).wait_for()


def shot_map_plane(page: Page, url: str, files: list[Path]) -> None:
    """The ConvAE's PCA map over its decoded plane."""
    go(page, url, "?model=conv_ae")
    page.get_by_test_id("stCheckbox").filter(has_text="Decoded plane").click()
    page.wait_for_function("() => document.querySelector('.js-plotly-plot image')")


def shot_map_pictures(page: Page, url: str, files: list[Path]) -> None:
    """The map with pictures of some points in place of their dots."""
    go(page, url, "")
    page.get_by_test_id("stCheckbox").filter(has_text="Pictures").click()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot image').length > 100")


def shot_draw(page: Page, url: str, files: list[Path]) -> None:
    """A "7" drawn in two strokes."""
    go(page, url, "draw")
    canvas = page.locator("canvas").last
    canvas.wait_for()
    for start, end in (((0.35, 0.2), (0.65, 0.2)), ((0.65, 0.2), (0.45, 0.85))):
        draw_stroke(page, canvas, start, end)
        time.sleep(1)
    page.get_by_text("reconstruction", exact=True).wait_for()
    page.wait_for_function("() => document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot')")


def shot_map_link(page: Page, url: str, files: list[Path]) -> None:
    """A shared link selecting test image 7 on the ConvVAE, the map coloured by KL."""
    go(page, url, "?model=conv_vae&data=mnist&point=7")
    page.get_by_role("heading", name="Image 7").wait_for()
    choose(page, "Colour by", "KL (nats)")


def shot_traverse_conv(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "traverse", "conv_ae")
    first = page.get_by_test_id("stSlider").first
    drag_slider(page, first.get_by_test_id("stWidgetLabel").inner_text(), 0.9)


def shot_shapes(page: Page, url: str, path: str) -> None:
    """A page on the shapes model and data: 64 px colour pictures."""
    go(page, url, path, "shapes_vae")
    choose(page, "Dataset (test split)", "shapes")


def shot_directions(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "directions")
    label = page.get_by_test_id("stWidgetLabel").filter(has_text="PC 1 · ").first.inner_text()
    drag_slider(page, label, 0.9)


def shot_directions_attribute(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "directions", "conv_ae")
    page.get_by_text("Attribute vector: class A → class B", exact=True).click()
    settle(page)
    drag_slider(page, page.get_by_test_id("stWidgetLabel").filter(has_text=" · distance ").first.inner_text(), 0.75)


def shot_sample_mixture(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "sample")
    page.get_by_text("A Gaussian mixture fitted to the codes", exact=True).click()
    settle(page)


def shot_interpolate(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "interpolate")
    drag_slider(page, "Steps", 1.0)


def shot_sample(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "sample")
    drag_slider(page, "Temperature", 0.0)


def shot_reconstruct(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "reconstruct")
    for f in files:
        upload_file(page, "Images (PNG, JPEG, BMP, GIF, WebP)", f)
        settle(page)


def shot_anomaly(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "anomaly")
    for f in files:
        upload_file(page, "Score images of your own (PNG, JPEG, BMP, GIF, WebP)", f)
        settle(page)


def shot_compare(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "compare")
    page.get_by_role("tab", name="Metrics").click()


def shot_compare_sweep(page: Page, url: str, files: list[Path]) -> None:
    go(page, url, "compare")
    page.get_by_role("tab", name="Beta sweep").click()
    settle(page)


def shot_traverse_dsprites(page: Page, url: str, files: list[Path]) -> None:
    """The shipped dsprites beta-TCVAE on its own data: one factor per live slider, where it disentangled."""
    go(page, url, "traverse?model=dsprites_beta_tcvae&data=dsprites")
    settle(page)


SHOTS = {
    "start": lambda page, url, files: go(page, url, "start"),
    "map": shot_map,
    "map_box": shot_map_box,
    "map_train": shot_map_train,
    "map_link": shot_map_link,
    "map_plane": shot_map_plane,
    "draw": shot_draw,
    "map_pictures": shot_map_pictures,
    "traverse": lambda page, url, files: go(page, url, "traverse"),
    "traverse_conv_ae": shot_traverse_conv,
    "traverse_shapes": lambda page, url, files: shot_shapes(page, url, "traverse"),
    "denoise_shapes": lambda page, url, files: shot_shapes(page, url, "denoise"),
    "directions": shot_directions,
    "directions_attribute": shot_directions_attribute,
    "interpolate": shot_interpolate,
    "sample": shot_sample,
    "sample_mixture": shot_sample_mixture,
    "reconstruct": shot_reconstruct,
    "denoise": lambda page, url, files: go(page, url, "denoise"),
    "anomaly": shot_anomaly,
    "compare": shot_compare,
    "compare_sweep": shot_compare_sweep,
    "traverse_dsprites": shot_traverse_dsprites,
    "train": lambda page, url, files: go(page, url, "train"),
}
OFFLINE_SHOTS = ("map", "traverse", "sample")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(SHOTS)} (default: all)")
    parser.add_argument("--offline", action="store_true", help="an empty data folder: scikit-learn's digits")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="aelab-shots-"))
    files = digit_files(tmp)
    env = {
        "AELAB_CACHE_DIR": os.environ.get("AELAB_CACHE_DIR", str(tmp / "cache")),
        "AELAB_RUNS_DIR": str(tmp / "runs"),
    }
    if args.offline:
        (tmp / "empty").mkdir()
        env["AELAB_DATA_DIR"] = str(tmp / "empty")
    names = args.names or (list(OFFLINE_SHOTS) if args.offline else list(SHOTS))
    proc, url = start_server(env)
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for name in names:
                context = browser.new_context(viewport=VIEWPORT)
                context.set_default_timeout(180_000)
                page = context.new_page()
                page.on("console", lambda m, n=name: m.type == "error" and errors.append(f"{n}: {m.text}"))
                page.on("response", lambda r, n=name: r.status >= 400 and errors.append(f"{n}: {r.status} {r.url}"))
                SHOTS[name](page, url, files)
                settle(page)
                target = args.out / f"{name}{'-offline' if args.offline else ''}.png"
                # Streamlit scrolls inside its main block, not the document: grow the window to the content
                height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
                page.set_viewport_size({"width": VIEWPORT["width"], "height": min(height, MAX_HEIGHT)})
                settle(page)
                page.screenshot(path=target)
                print(f"{target}: page height {height} px")
                context.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
    for error in errors:
        if not NOISE.search(error):
            print("console error:", re.sub(r"\s+", " ", error)[:300])


if __name__ == "__main__":
    main()
