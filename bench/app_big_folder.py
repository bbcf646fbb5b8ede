"""The real app's Latent map on a generated folder of --images PNGs (issue #25, item 4), driven in Chromium as a
person drives it: `streamlit run app.py` with a fresh disk cache and the shipped MLP VAE (1x28x28, which reads a
folder's files by MNIST's digit recipe); the folder (bench/big_map.write_folder: shapes at 1x28x28, one subfolder
per shape, written once under /tmp) added in the sidebar's "Add a folder or zip" box; "Codes of" its training
split chosen on the Map page and "Encode them" clicked. A folder whose decoded images exceed
folders.IN_MEMORY_BYTES is streamed from its files. Measured:

- the folder added (Enter in the box) to its test split's map drawn or, streamed, to the prompt to encode it; then
  "Encode them" (a streamed test split is encoded whole too) to each split's map drawn, with the distinct texts the
  progress bar showed meanwhile;
- the map drawn (every point of the chart's "points" traces in Plotly's data, a canvas and the axes there):
  MNIST's 10,000-point test map after a page load (a new session: the anchor, as bench/app_browser.py and
  bench/big_map.py time it); and, in one session, after choosing "Codes of" another split (its codes cached), MNIST's
  test split (10,000) against the folder's training split: the ratio is the issue's "drawn at most 2x". A page load
  cannot open the folder: the folder and the split chosen are the session's. Each a median of --loads after one
  not counted;
- clicks on points of the folder's training-split map, spread over it and 3 px from its clickable cells: mousedown
  to the heading of the row Plotly hovers there and its three pictures shown, every click listed, the first apart.
  The digit recipe crops, centres and scales each shape, so many generated images are identical and their codes
  stack on one spot: every point is still drawn and hovered, but few are alone;
- the server process's resident memory (VmRSS) and its peak (VmHWM) after all that; its DataLoader workers
  (separate processes, alive while a stream is read) are not counted;
- with --tsne, t-SNE of every point computed in the app (Points: all, "Compute t-SNE"), and VmHWM after it.

    AELAB_DATA_DIR=../shared/datasets nice -n 5 .venv/bin/python bench/app_big_folder.py \
        [--images 125000] [--loads 3] [--clicks 8] [--threads 1] [--shots DIR] [--tsne]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from app_browser import rss_mb, start_server
from big_map import listed, torch_threads, write_folder
from common import ROOT, timed
from playwright.sync_api import Page, expect, sync_playwright
from streamlit_page import (
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    VIEWPORT,
    AppSocket,
    click_plot_point,
    click_to_shown_seconds,
    drag_slider,
    image_srcs,
    isolated_points,
    open_app,
    plot_to_client,
    start_click_recorder,
    wait_for_app,
)

from aelab.data.registry import data_dir
from aelab.ui.map_figure import MAP_CELLS, MAP_POINTS

MNIST_TEST = 10_000  # the anchor map's points
WAIT_MS = 3_600_000  # encoding or t-SNE of a large split may take many minutes on shared cores
DETAIL_PICTURES = 3  # a clicked point's picture, its reconstruction and its nearest codes' strip
# Every point of the map's point traces is in Plotly's data, with its axes and WebGL canvas made.
# A chart of the run before may still stand beside the new one until the run ends: any chart counts.
MAP_DRAWN = f"""(n) => [...document.querySelectorAll("[data-testid='stPlotlyChart'] .js-plotly-plot")].some(gd =>
  !!(gd._fullData && gd.querySelector('.main-svg') && gd.querySelector('canvas') &&
     gd._fullData.filter(t => t.legendgroup === '{MAP_POINTS}').reduce((k, t) => k + t.x.length, 0) === n))"""
# The progress bar says 30% or more, or the map of n points is drawn.
BAR_PAST_30 = f"""(n) => ({MAP_DRAWN})(n) || [...document.querySelectorAll("[data-testid='stProgress']")]
  .some(bar => {{ const m = bar.textContent.match(/(\\d+)%/); return m && +m[1] >= 30; }})"""
# Every distinct text of a progress bar while the page is open.
PROGRESS_RECORDER = """() => {
  const seen = window.__progress = [];
  window.__progressTimer = setInterval(() => {
    for (const bar of document.querySelectorAll("[data-testid='stProgress']")) {
      const text = bar.textContent.trim();
      if (text && !seen.includes(text)) seen.push(text);
    }
  }, 50);
}"""


# Once Plotly has hovered at viewport pixel (x, y): the dataset row (customdata's first) of the point it hovers.
HOVERED_ROW = """([gd, x, y]) => {
  const box = gd.getBoundingClientRect(), hit = gd._hoverdata && gd._hoverdata[0];
  const here = Math.abs(gd._hoverPointerX - (x - box.left)) < 1.5 && Math.abs(gd._hoverPointerY - (y - box.top)) < 1.5;
  return here && hit ? [gd._fullData[hit.curveNumber].customdata[hit.pointNumber][0]] : null;
}"""


def encoded(size: int, seconds: float, texts: list[str]) -> str:
    """An encoding's pace and what its bar said."""
    percents = sorted({int(m.group(1)) for text in texts if (m := re.search(r"(\d+)%", text))})
    said = f"{percents[0]}% to {percents[-1]}%" if percents else "none"
    return (
        f"{seconds:.1f} s, {size / seconds:.0f} images/s; the bar showed {len(texts)} distinct texts, "
        f"{len(percents)} distinct percentages ({said}); {load()}"
    )


def hwm_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of process `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def wait_drawn(page: Page, n: int) -> None:
    page.wait_for_function(MAP_DRAWN, arg=n, timeout=WAIT_MS, polling=20)


def drawn_after(page: Page, n: int, action) -> float:
    """Seconds from `action` to a map of n points drawn."""
    start = time.perf_counter()
    action()
    wait_drawn(page, n)
    return time.perf_counter() - start


def page_loads(browser, url: str, loads: int) -> list[float]:
    """Seconds from opening the app in a new tab (a new session) to MNIST's test map drawn; the first not counted."""
    times = []
    for _ in range(loads + 1):
        page = browser.new_page(viewport=VIEWPORT)
        times.append(drawn_after(page, MNIST_TEST, lambda: open_app(page, url)))  # noqa: B023 - called at once
        page.close()
    return times[1:]


def split_option(page: Page, split: str):
    """The "Codes of" radio's option for `split` ("test" or "training")."""
    radio = page.get_by_test_id("stRadio").filter(has_text="Codes of")
    return radio.locator("label").filter(has_text=re.compile(rf"^the {split} split"))


def split_size(page: Page, split: str) -> int:
    return int(re.sub(r"\D", "", split_option(page, split).inner_text()))


def switched(page: Page, away: tuple[str, int], back: tuple[str, int], loads: int) -> list[float]:
    """Seconds from choosing "Codes of" split `back` (its codes cached) to its map drawn, after its map of `away`;
    each (split, points); the first not counted."""
    times = []
    for _ in range(loads + 1):
        drawn_after(page, away[1], lambda: split_option(page, away[0]).click())  # noqa: B023 - called at once
        times.append(drawn_after(page, back[1], lambda: split_option(page, back[0]).click()))  # noqa: B023
    return times[1:]


def progress_texts(page: Page) -> list[str]:
    texts = page.evaluate("() => { clearInterval(window.__progressTimer); return window.__progress; }")
    return list(texts)


def encode_split(page: Page, split: str, shots: Path | None = None) -> tuple[int, float, list[str]]:
    """Choose "Codes of" `split` and click "Encode them": its size, the seconds to its map drawn, and the progress
    bar's distinct texts. With `shots`, screenshots of the prompt and of the bar past 30% go there."""
    size, option = split_size(page, split), split_option(page, split)
    if not option.locator("input").is_checked():
        option.click()
    button = page.get_by_role("button", name="Encode them")
    button.wait_for(timeout=WAIT_MS)
    shoot(page, shots, f"encode-{split}-1-prompt")
    page.evaluate(PROGRESS_RECORDER)
    start = time.perf_counter()
    button.click()
    if shots is not None:  # the bar past 30%, unless the map came first
        page.wait_for_function(BAR_PAST_30, arg=size, timeout=WAIT_MS, polling=50)
        shoot(page, shots, f"encode-{split}-2-bar")
    wait_drawn(page, size)
    return size, time.perf_counter() - start, progress_texts(page)


def shoot(page: Page, shots: Path | None, name: str) -> None:
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=shots / f"{name}.png", full_page=True)


def add_folder(page: Page, folder: Path) -> float:
    """Type the folder in the sidebar's box: the seconds to its test split's map drawn or, for a streamed folder,
    the prompt to encode it."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Add a folder or zip").click()
    box = sidebar.get_by_role("textbox", name="Folder or zip of images")
    box.fill(str(folder))
    start = time.perf_counter()
    box.press("Enter")
    caption = page.get_by_text(re.compile(rf"^[\d,]+ of the [\d,]+ images of the test split of {folder.name}\."))
    caption.or_(page.get_by_role("button", name="Encode them")).wait_for(timeout=WAIT_MS)
    if caption.count():
        wait_drawn(page, int(caption.inner_text().split(" of ")[0].replace(",", "")))
    return time.perf_counter() - start


def hovered_row(page: Page, chart, point: dict) -> int:
    """The dataset row a click on `point` selects: the point Plotly hovers there (identical images, which the
    generated folder repeats, stack their codes on one spot)."""
    x, y = plot_to_client(page, chart, point["x"], point["y"])
    page.mouse.move(x + 3, y + 3)
    page.mouse.move(x, y)
    gd = chart.locator(".js-plotly-plot").element_handle()
    found = page.wait_for_function(HOVERED_ROW, arg=[gd, x, y], timeout=WAIT_MS, polling=20)
    return int(found.json_value()[0])


def click_points(page: Page, app: AppSocket, clicks: int) -> list[float]:
    """Seconds from the mousedown on each of `clicks` points, spread over the map and away from its clickable cells,
    to its heading and pictures shown."""
    wait_for_app(page)  # the run that drew the map is over: the chart of the run before has gone
    expect(page.locator(".js-plotly-plot")).to_have_count(1, timeout=TIMEOUT_MS)
    chart = page.get_by_test_id("stPlotlyChart")
    times = []
    for point in isolated_points(chart, MAP_POINTS, (MAP_CELLS,), 3, clicks):
        row = hovered_row(page, chart, point)
        before = image_srcs(page) if page.get_by_test_id("stImage").count() else []
        start_click_recorder(page, f"Image {row}", DETAIL_PICTURES, before)
        with app.expect_rerun():
            click_plot_point(page, chart, point["x"], point["y"])
        times.append(click_to_shown_seconds(page))
    return times


def tsne_all(page: Page, size: int) -> tuple[float, list[str]]:
    """t-SNE of every point of the shown split, computed in the app: seconds from "Compute t-SNE" to its map drawn,
    and the progress bar's distinct texts."""
    page.get_by_test_id("stRadio").filter(has_text="Projection").locator("label").filter(has_text="t-SNE").click()
    drag_slider(page, "Points", 1.0)
    button = page.get_by_role("button", name="Compute t-SNE")
    button.wait_for(timeout=WAIT_MS)
    page.evaluate(PROGRESS_RECORDER)
    seconds = drawn_after(page, size, button.click)
    return seconds, progress_texts(page)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=125_000, help="PNGs in the generated folder (20%% held out)")
    parser.add_argument("--loads", type=int, default=3, help="map draws timed of each kind, after one not counted")
    parser.add_argument("--clicks", type=int, default=8, help="clicks on the folder's map; the first is given apart")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the server (OMP_NUM_THREADS)")
    parser.add_argument("--shots", type=Path, help="a folder for screenshots of the encoding and the folder's map")
    parser.add_argument("--tsne", action="store_true", help="then t-SNE of every point of the folder's map, in the app")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    rows: list[tuple[str, str]] = []

    def say(what: str, value: str) -> None:
        rows.append((what, value))
        print(f"{what}: {value}", flush=True)

    say("date, commit", f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {commit.strip()}")
    say("bench process torch threads; server", f"{torch_threads()}; OMP_NUM_THREADS={args.threads}")
    say("load average at start", ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    folder, written = timed(lambda: write_folder(args.images))
    say("folder", f"{folder}: {args.images:,} PNGs (written or found in {written:.0f} s)")
    settings = {"AELAB_DATA_DIR": str(data_dir()), "OMP_NUM_THREADS": str(args.threads)}
    proc, url, _ = start_server(tempfile.mkdtemp(prefix="aelab-bench-"), settings=settings)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            app = open_app(page, url)
            wait_drawn(page, MNIST_TEST)  # the first load encodes MNIST's test split: not counted
            mnist_train = split_size(page, "training")
            encode_split(page, "training")  # MNIST's training split, for the switches below
            anchor = switched(page, ("training", mnist_train), ("test", MNIST_TEST), args.loads)
            page.close()
            reloads = page_loads(browser, url, args.loads)
            say(
                f"MNIST test map ({MNIST_TEST:,} points): page load -> drawn, median of {args.loads}",
                f"{statistics.median(reloads):.2f} s ({listed(reloads)}); {load()}",
            )
            say(
                f"MNIST test map: 'Codes of' switched to it (from {mnist_train:,}) -> drawn, median of {args.loads}",
                f"{statistics.median(anchor):.2f} s ({listed(anchor)}); {load()}",
            )

            page = browser.new_page(viewport=VIEWPORT)
            app = open_app(page, url)
            wait_drawn(page, MNIST_TEST)
            seconds = add_folder(page, folder)
            say(
                "folder added in the sidebar -> its test map drawn, or the prompt to encode it",
                f"{seconds:.1f} s; {load()}",
            )
            if page.get_by_role("button", name="Encode them").count():  # streamed: its whole test split
                shown, seconds, texts = encode_split(page, "test")
                say(f"'Encode them' (test split, {shown:,} images) -> its map drawn", encoded(shown, seconds, texts))
            else:
                shown = split_size(page, "test")
            size, seconds, texts = encode_split(page, "training", args.shots)
            say(f"'Encode them' (training split, {size:,} images) -> its map drawn", encoded(size, seconds, texts))
            say("  progress texts seen (first, last)", f"{texts[0] if texts else '-'} | {texts[-1] if texts else '-'}")
            shoot(page, args.shots, "map-3-drawn")
            say("server memory after encoding", f"VmRSS {rss_mb(proc.pid):.0f} MB, VmHWM {hwm_mb(proc.pid):.0f} MB")
            big = switched(page, ("test", shown), ("training", size), args.loads)
            say(
                f"folder training map ({size:,} points): 'Codes of' switched to it -> drawn, median of {args.loads}",
                f"{statistics.median(big):.2f} s ({listed(big)}); "
                f"{statistics.median(big) / statistics.median(anchor):.2f}x the MNIST test map's switch "
                f"(goal <= 2x at 200,000); {load()}",
            )
            clicks = click_points(page, app, args.clicks)
            shoot(page, args.shots, "map-4-clicked")
            say(
                f"click -> detail on the {size:,}-point map (goal <= 0.5 s each)",
                f"first {clicks[0]:.2f} s; then median {statistics.median(clicks[1:]):.2f} s, max "
                f"{max(clicks[1:]):.2f} s ({listed(clicks[1:])}); {sum(t > 0.5 for t in clicks)} of {len(clicks)} "
                f"over 0.5 s; {load()}",
            )
            say(
                "server memory after all that (goal <= 2 GB)",
                f"VmRSS {rss_mb(proc.pid):.0f} MB, VmHWM {hwm_mb(proc.pid):.0f} MB",
            )
            if args.tsne:
                seconds, texts = tsne_all(page, size)
                say(
                    f"t-SNE of all {size:,} codes in the app: 'Compute t-SNE' -> map drawn",
                    f"{seconds:.0f} s; {len(texts)} distinct progress texts; {load()}",
                )
                say("server memory after t-SNE", f"VmRSS {rss_mb(proc.pid):.0f} MB, VmHWM {hwm_mb(proc.pid):.0f} MB")
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
    width = max(len(what) for what, _ in rows)
    print("\n" + "\n".join(f"{what:<{width}}  {value}" for what, value in rows))


if __name__ == "__main__":
    main()
