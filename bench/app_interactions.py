"""The app's interactions as a person meets them, in Chromium, each beside a trivial Streamlit rerun.

A trivial rerun (a bare page's button: Streamlit's round trip and React's redraw, nothing else) is
timed in the same browser in the same run, so each interaction reads as seconds beyond it: the time
aelab itself adds. Every interaction is timed from the click (or the drag's release) until the page
shows its result: the script run over, no skeleton left, every picture loaded and every chart drawn,
plus what the action must show (a heading, a colour bar, a background image).

Each interaction is done several times; the first time pays what the app computes once (a
projection, the codes' errors, a model load) and is reported apart from the median of the rest.
The app runs with an empty disk cache in a fresh server, as on a fresh clone, its runs folder holding the
example of docs/own-model.md (trained one epoch by its own script, imported by the CLI) for the own-model switch.
The bare 10,000-point map recoloured is a second anchor: what any redraw of the map costs at the least.

    AELAB_DATA_DIR=../shared/datasets python bench/app_interactions.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app_browser import ROOT, start_server
from playwright.sync_api import Page, expect, sync_playwright

from aelab.data.registry import data_dir

sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "system" / "browser")]

from own_models import EXAMPLE, guide_example  # noqa: E402
from streamlit_page import CHROMIUM_ARGS, VIEWPORT, AppSocket, open_app, plot_to_client, wait_for_app  # noqa: E402

TRIVIAL_PAGE = """
import streamlit as st

st.button("Again", key="again")
st.write(st.session_state.setdefault("runs", 0))
st.session_state["runs"] += 1
"""
# A bare map: the latent map's 10,000 points in one Plotly WebGL chart, recoloured by a selectbox. Streamlit
# remounts a chart whose figure changed (its element id hashes the figure), so this is the least any redraw
# of the map costs: new WebGL contexts, their shaders compiled, every point drawn.
BARE_MAP_PAGE = """
import numpy as np
import plotly.graph_objects as go
import streamlit as st

xy = np.random.default_rng(0).normal(size=(10_000, 2))
by = st.selectbox("Colour by", ["x", "y"])
marker = dict(size=4, color=xy[:, 0 if by == "x" else 1], showscale=True)
st.plotly_chart(go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", marker=marker)), on_select="rerun")
"""
OWN = "mine"  # the own model's name in the runs folder
SWITCHED_PAGES = ["Traverse", "Directions", "Interpolate", "Sample", "Reconstruct", "Denoise", "Anomaly", "Compare"]
# Every picture loaded and every Plotly chart drawn: what "the page shows its result" means here.
SHOWN = """() => [...document.querySelectorAll("[data-testid='stImage'] img")]
    .every(i => i.complete && i.naturalWidth > 0)
  && [...document.querySelectorAll("[data-testid='stPlotlyChart']")]
    .every(c => { const gd = c.querySelector('.js-plotly-plot'); return gd && gd._fullLayout; })"""


def settled(page: Page) -> None:
    wait_for_app(page)
    page.wait_for_function(SHOWN, timeout=300_000, polling=20)


Act = Callable[[], Callable[[], None]]  # prepares an interaction (opens a menu, drags) and returns its last step


def timed(page: Page, app: AppSocket, act: Act, shown: Callable[[], None] | None = None) -> float:
    """Seconds from `act`'s last step (a click, a mouse release) to its result shown: its rerun finished,
    the page settled, `shown` true. Opening a menu or dragging is the person's time, not the app's."""
    last_step = act()
    start = time.perf_counter()
    with app.expect_rerun():
        last_step()
    if shown is not None:
        shown()
    settled(page)
    return time.perf_counter() - start


def nav(page: Page, title: str) -> Act:
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(rf"{re.escape(title)}$"))
    return lambda: link.click


def pick(page: Page, label: str, option: str, where: str = "stMain") -> Act:
    """Choose `option` in the selectbox labelled `label`."""

    def act() -> Callable[[], None]:
        name = page.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(rf"^{re.escape(label)}$"))
        page.get_by_test_id(where).get_by_test_id("stSelectbox").filter(has=name).click()
        choice = page.get_by_role("option", name=option, exact=True)
        choice.wait_for()
        return choice.click

    return act


def tick(page: Page, label: str) -> Act:
    return lambda: page.get_by_test_id("stCheckbox").filter(has_text=label).locator("label").click


def heading(page: Page, pattern: str) -> Callable[[], None]:
    return lambda: expect(page.get_by_role("heading", name=re.compile(pattern)).first).to_be_visible()


def chart_has(page: Page, js: str) -> Callable[[], None]:
    """Wait until the latent map's graph div satisfies `js` (called with gd)."""
    return lambda: page.wait_for_function(
        f"() => {{ const gd = document.querySelector('.js-plotly-plot'); return gd && gd._fullLayout && ({js})(gd); }}",
        timeout=300_000,
        polling=20,
    )


def select_region(page: Page, tool: str, corners: list[tuple[float, float]]) -> Act:
    """Drag the map's box or lasso tool through `corners` (PCA data coordinates); the release is the last step."""

    def act() -> Callable[[], None]:
        chart = page.get_by_test_id("stPlotlyChart").first
        chart.hover()
        chart.locator(f'[data-title="{tool}"]').click()
        points = [plot_to_client(page, chart, x, y) for x, y in corners]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=8)
        return page.mouse.up

    return act


def clear_region(page: Page, app: AppSocket) -> None:
    with app.expect_rerun():
        page.get_by_role("button", name="Clear selection").click()
    settled(page)


def bare_page(browser, source: str, act: Callable[[Page], Act], repeats: int) -> list[float]:
    """Times of `act` on a page of its own (`source`), served by Streamlit as the app is."""
    with tempfile.NamedTemporaryFile("w", suffix=".py") as script:
        script.write(source)
        script.flush()
        proc, url, _ = start_server(tempfile.mkdtemp(prefix="aelab-bench-"), script.name)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            app = open_app(page, url)
            settled(page)
            step = act(page)
            return [timed(page, app, step) for _ in range(repeats + 1)]
        finally:
            proc.terminate()
            proc.wait()


def anchors(browser, repeats: int) -> dict[str, list[float]]:
    """The trivial rerun and the bare map's recolouring."""
    trivial = bare_page(
        browser, TRIVIAL_PAGE, lambda page: lambda: page.get_by_role("button", name="Again").click, repeats
    )

    def recolour_by(page: Page) -> Act:
        turns = itertools.count()
        return lambda: pick(page, "Colour by", ("y", "x")[next(turns) % 2])()

    recolour = bare_page(browser, BARE_MAP_PAGE, recolour_by, repeats)
    return {"trivial rerun": trivial, "bare map recoloured": recolour}


def own_model(checkout: Path) -> dict[str, str]:
    """The settings of a runs folder holding the example of docs/own-model.md, trained one epoch by its own script
    and imported by `checkout`'s CLI, as a person following that page does."""
    folder = Path(tempfile.mkdtemp(prefix="aelab-own-"))
    (folder / f"{EXAMPLE}.py").write_text(guide_example())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(checkout)}
    subprocess.run([sys.executable, f"{EXAMPLE}.py", str(data_dir()), "1"], cwd=folder, env=env, check=True)
    entry = f"{folder / EXAMPLE}.py:build"
    weights, out = folder / f"{EXAMPLE}.safetensors", folder / "runs" / f"{OWN}.safetensors"
    subprocess.run(
        [sys.executable, "-m", "aelab", "import", entry, weights, "--out", out], cwd=checkout, env=env, check=True
    )
    return {"AELAB_RUNS_DIR": str(out.parent), "AELAB_ENTRY_POINTS": entry}


def app_interactions(browser, repeats: int, checkout: Path) -> dict[str, list[float]]:
    """Each interaction's times in the app of `checkout`, first time first."""
    times: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        times.setdefault(name, []).append(seconds)
        print(f"  {name}: {seconds:.2f} s", flush=True)

    proc, url, _ = start_server(
        tempfile.mkdtemp(prefix="aelab-bench-"), settings=own_model(checkout), checkout=checkout
    )
    try:
        page = browser.new_page(viewport=VIEWPORT)
        app = open_app(page, url)
        settled(page)
        for _ in range(repeats + 1):
            for title in SWITCHED_PAGES:
                record(f"page switch to {title}", timed(page, app, nav(page, title), heading(page, f"^{title}$")))
            record("page switch to Latent map", timed(page, app, nav(page, "Latent map")))
        for _ in range(repeats + 1):
            for option in ("recon. error", "trust", "label"):
                record(f"colour by {option}", timed(page, app, pick(page, "Colour by", option)))
        for _ in range(repeats + 1):
            record(
                "decoded plane on",
                timed(page, app, tick(page, "Decoded plane"), chart_has(page, "gd => gd.layout.images?.length")),
            )
            record("decoded plane off", timed(page, app, tick(page, "Decoded plane")))
        for _ in range(repeats + 1):
            record(
                "pictures on the map on",
                timed(page, app, tick(page, "Pictures"), chart_has(page, "gd => gd.layout.images?.length")),
            )
            record("pictures on the map off", timed(page, app, tick(page, "Pictures")))
        for _ in range(repeats + 1):
            box = [(0.0, 1.0), (1.0, 0.0)]
            record(
                "box selection to gallery",
                timed(page, app, select_region(page, "Box Select", box), heading(page, r"^\d+ images selected$")),
            )
            clear_region(page, app)
            lasso = [(0.0, 0.0), (1.5, 0.0), (1.5, 1.5), (0.0, 1.5), (0.0, 0.0)]
            record(
                "lasso selection to gallery",
                timed(page, app, select_region(page, "Lasso Select", lasso), heading(page, r"^\d+ images selected$")),
            )
            clear_region(page, app)
        for _ in range(repeats + 1):
            for model in ("conv_vae", "vae"):
                record("model switch", timed(page, app, pick(page, "Model", model, "stSidebar")))
            record("model switch to an own model", timed(page, app, pick(page, "Model", f"{OWN} (yours)", "stSidebar")))
            timed(page, app, pick(page, "Model", "vae", "stSidebar"))
        timed(page, app, nav(page, "Sample"), heading(page, "^Sample$"))
        for _ in range(repeats + 1):  # the shapes model, which brings its data: the Sample page's pictures and scores
            record("Sample page, shapes model", timed(page, app, pick(page, "Model", "shapes_vae", "stSidebar")))
            timed(page, app, pick(page, "Model", "vae", "stSidebar"))
        page.close()
        return times
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="times each interaction is repeated after the first")
    parser.add_argument(
        "--checkout", type=Path, default=ROOT, help="the app of another checkout (an earlier commit's), same anchors"
    )
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        before = anchors(browser, args.repeats)
        print("the app:", flush=True)
        times = app_interactions(browser, args.repeats, args.checkout.resolve())
        after = anchors(browser, args.repeats)  # before and after the app, for a drifting machine
    rerun, recolour = (statistics.median(before[k] + after[k]) for k in ("trivial rerun", "bare map recoloured"))
    print(f"\nthe app of {args.checkout.resolve()}")
    print(f"anchors, medians: trivial rerun {rerun:.2f} s; bare 10,000-point map recoloured {recolour:.2f} s")
    print(f"{'interaction':44} {'first':>7} {'median':>7} {'beyond rerun':>13} {'beyond map':>11}")
    for name, seconds in times.items():
        median = statistics.median(seconds[1:] or seconds)
        print(f"{name:44} {seconds[0]:6.2f}s {median:6.2f}s {median - rerun:+12.2f}s {median - recolour:+10.2f}s")


if __name__ == "__main__":
    main()
