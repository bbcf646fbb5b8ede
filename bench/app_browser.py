"""The app as a person meets it: `streamlit run app.py`, then a real browser (Debian's Chromium).

- The first page: the time from starting the server to the latent map drawn with every point
  of the test set, cold (empty disk cache) and warm (latents and projections in the disk
  cache), against a bare page holding nothing but a Plotly chart of 10,000 random points:
  what Streamlit, Plotly.js and software WebGL cost before aelab does anything. Each round
  runs the three one after the other, so the ratios compare like with like on a busy machine.
  One load of each page comes first, not counted: a browser's first page pays its own start-up
  (about a second here), which would otherwise fall on round 1's cold load alone. Servers run
  with Python's bytecode cache on, as it is by default, even where PYTHONDONTWRITEBYTECODE is set
  around the bench: otherwise every start would compile aelab's modules afresh, which a user's
  Python does once.
- The server process's resident memory after every page has been opened (first round).
- A click on the map to the detail panel showing it: a point (its image, reconstruction and nearest codes)
  and empty space (the decoded spot), alternately, measured in the page from the mousedown
  to the new pictures loaded.

    AELAB_DATA_DIR=../shared/datasets python bench/app_browser.py [--rounds 3] [--clicks 6]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "system" / "browser")]

from streamlit_page import (  # noqa: E402
    CHROMIUM_ARGS,
    click_plot_point,
    click_to_shown_seconds,
    image_srcs,
    isolated_points,
    open_app,
    server_command,
    start_click_recorder,
    wait_for_app,
)

from aelab.ui.map_figure import MAP_CELLS, MAP_POINTS  # noqa: E402

PAGES = ["traverse", "interpolate", "sample", "reconstruct", "train", "denoise", "anomaly", "compare"]
POINTS = 10_000  # the MNIST test set's, and the bare page's
# The page's first Plotly chart holds every point (over its traces): drawn, not just a frame.
CHART_DRAWN = f"""() => {{
  const gd = document.querySelector('.js-plotly-plot');
  return !!(gd && gd.querySelector('.main-svg') && gd._fullData &&
            gd._fullData.reduce((n, t) => n + t.x.length, 0) >= {POINTS});
}}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


BARE_PAGE = """
import numpy as np
import plotly.graph_objects as go
import streamlit as st

xy = np.random.default_rng(0).normal(size=(10_000, 2))
st.title("Bare page")
st.plotly_chart(go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers")), on_select="rerun")
"""


def start_server(
    cache: str, script: str = "app.py", settings: dict[str, str] | None = None, checkout: Path = ROOT
) -> tuple[subprocess.Popen, str, float]:
    """A server of `script` (in `checkout`) with its own disk cache and, unless `settings` name them, an empty
    runs folder."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "AELAB_CACHE_DIR": cache,
        "AELAB_RUNS_DIR": tempfile.mkdtemp(),
        **(settings or {}),
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        server_command(script, port),
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url, started
        except OSError:
            time.sleep(0.05)


def first_page(browser, cache: str, label: str, visit_all: bool = False, script: str = "app.py") -> float:
    """Seconds from `streamlit run` to the first chart drawn with all its points."""
    proc, url, started = start_server(cache, script)
    try:
        ready = time.perf_counter() - started
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        opened = time.perf_counter()
        page.goto(url)
        page.wait_for_function(CHART_DRAWN, timeout=300_000, polling=20)
        drawn = time.perf_counter()
        print(
            f"  {label}: server ready {ready:.1f} s; page opened -> map drawn {drawn - opened:.1f} s; "
            f"`streamlit run` -> map drawn {drawn - started:.2f} s",
            flush=True,
        )
        if visit_all:
            for name in PAGES:
                page.goto(f"{url}/{name}")
                wait_for_app(page)
            print(f"  resident memory of the app process after opening every page: {rss_mb(proc.pid):.0f} MB")
        page.close()
        return drawn - started
    finally:
        proc.terminate()
        proc.wait()


def click_latencies(browser, cache: str, clicks: int) -> tuple[list[float], list[float]]:
    """Seconds from a click to the detail shown, for points and for empty space, alternately."""
    proc, url, _ = start_server(cache)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        app = open_app(page, url)
        page.wait_for_function(CHART_DRAWN, timeout=300_000)
        chart = page.get_by_test_id("stPlotlyChart")
        points = isolated_points(chart, MAP_POINTS, (MAP_POINTS, MAP_CELLS), 4, clicks)
        spots = isolated_points(chart, MAP_CELLS, (MAP_POINTS,), 12, clicks)
        on_point, on_space = [], []
        for point, spot in zip(points, spots):
            for target, heading, images, times in (
                (point, f"Image {int(point['custom'][0])}", 3, on_point),
                (spot, "Decoded location", 1, on_space),
            ):
                before = image_srcs(page) if page.get_by_test_id("stImage").count() else []
                start_click_recorder(page, heading, images, before)
                with app.expect_rerun():
                    assert click_plot_point(page, chart, target["x"], target["y"]) == (target["curve"], target["index"])
                times.append(click_to_shown_seconds(page))
        page.close()
        return on_point, on_space
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=3, help="cold, warm and bare runs, one after the other (0: clicks only)"
    )
    parser.add_argument("--clicks", type=int, default=6, help="clicks on points, and as many on empty space (0: none)")
    args = parser.parse_args()
    rounds = {"cold": [], "warm": [], "bare": []}
    with sync_playwright() as p, tempfile.NamedTemporaryFile("w", suffix=".py") as bare:
        bare.write(BARE_PAGE)
        bare.flush()
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        cache = tempfile.mkdtemp(prefix="aelab-bench-")
        if args.rounds:
            print("warm-up, not counted:")
            first_page(browser, tempfile.mkdtemp(prefix="aelab-bench-"), "the app")
            first_page(browser, cache, "bare Plotly page", script=bare.name)
        for n in range(args.rounds):
            print(f"round {n + 1}:")
            cache = tempfile.mkdtemp(prefix="aelab-bench-")
            rounds["cold"].append(first_page(browser, cache, "cold cache", visit_all=n == 0))
            rounds["warm"].append(first_page(browser, cache, "warm cache"))
            rounds["bare"].append(first_page(browser, cache, "bare Plotly page, for scale", script=bare.name))
            print(
                f"  ratio to the bare page: cold {rounds['cold'][-1] / rounds['bare'][-1]:.2f}, "
                f"warm {rounds['warm'][-1] / rounds['bare'][-1]:.2f}"
            )
        if args.rounds:
            median = {kind: statistics.median(times) for kind, times in rounds.items()}
            ratios = {
                kind: statistics.median(t / b for t, b in zip(rounds[kind], rounds["bare"]))
                for kind in ("cold", "warm")
            }
            print(
                f"`streamlit run` -> map drawn, median of {args.rounds}: cold {median['cold']:.2f} s, "
                f"warm {median['warm']:.2f} s, bare page {median['bare']:.2f} s; median ratio to the bare page: "
                f"cold {ratios['cold']:.2f}, warm {ratios['warm']:.2f} (goal <= 1.3)"
            )
        if args.clicks:
            on_point, on_space = click_latencies(browser, cache, args.clicks)
            for what, times in (("a point", on_point), ("empty space", on_space)):
                print(
                    f"click on {what} -> detail shown: median {statistics.median(times):.2f} s "
                    f"({', '.join(f'{t:.2f}' for t in times)})"
                )
        browser.close()


if __name__ == "__main__":
    main()
