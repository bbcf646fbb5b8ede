"""The latent map at scale: 10,000 codes against 100,000 (and 200,000), each part against the 10k anchor
measured in the same run, on a machine whose cores other work shares.

- projections: PCA, openTSNE's t-SNE (FFT gradient from `projections.FFT_POINTS` codes) and UMAP of
  synthetic codes (a 16-D mixture of ten Gaussians, one label each: the shape of a VAE's codes), each
  in a fresh process so that its peak resident memory (VmHWM) is its own; the process's memory after
  importing and making the codes is given beside it. Each says how often its progress was called.
- encoding: a folder of --images PNGs (aelab.data.shapes's recipe at 1x28x28, factors drawn with
  replacement, one class subfolder per shape) written under /tmp once, read by `folders.load_folder`
  as a stream (DataLoader workers decode each batch; no image kept as floats) and encoded by a
  shipped model with `encoding.encode_all`: images per second, peak memory, progress calls.
- browser: a Streamlit page that draws the app's own map figure (`map_figure.latent_map`, Plotly's
  WebGL scatter, every point) of the PCA of N synthetic codes in a fragment, as the Map page does, and
  on a click shows the clicked row's heading and picture (rendered from its factors: one image read,
  not the dataset). Timed in Chromium: page opened to every point drawn, and mousedown to the detail
  shown; the server's resident memory after the clicks.

    AELAB_DATA_DIR=../shared/datasets nice -n 5 .venv/bin/python bench/big_map.py \
        [--sizes 10000 100000 200000] [--methods pca tsne umap] [--images 100000] [--parts projections encoding browser]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from app_browser import free_port, rss_mb
from common import ROOT, timed
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(ROOT / "tests" / "system" / "browser"))
from streamlit_page import (  # noqa: E402
    CHROMIUM_ARGS,
    VIEWPORT,
    click_plot_point,
    click_to_shown_seconds,
    image_srcs,
    isolated_points,
    open_app,
    server_command,
    start_click_recorder,
)

DIM, CLASSES = 16, 10  # the synthetic codes' width and labels
FOLDER = Path("/tmp/aelab-bigmap")  # the generated folders, never in the checkout
MODEL = ROOT / "checkpoints" / "vae.safetensors"  # the shipped MLP VAE: 1x28x28, like the generated PNGs


def synthetic_codes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, DIM) codes from a mixture of CLASSES Gaussians, and each one's component as its label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (CLASSES, DIM))
    labels = rng.integers(0, CLASSES, n)
    return (centres[labels] + rng.normal(0, 1, (n, DIM))).astype(np.float32), labels


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def torch_threads() -> int:
    import torch

    torch.set_num_threads(1)
    return torch.get_num_threads()


# --- one projection or one encoding in its own process ---------------------------------------


def child_projection(method: str, n: int) -> dict:
    from aelab.explore import projections

    codes, _ = synthetic_codes(n)
    calls: list[float] = []
    before = rss_mb(os.getpid())
    if method == "pca":
        found, seconds = timed(lambda: projections.pca(codes))
    elif method == "tsne":
        found, seconds = timed(lambda: projections.tsne(codes, n, progress=calls.append))
    else:
        found, seconds = timed(lambda: projections.umap(codes, n, progress=calls.append))
    assert len(found.coords) == n
    return {"seconds": seconds, "peak_mb": peak_mb(), "before_mb": before, "progress": len(calls), **found.params}


def write_folder(n: int) -> Path:
    """n PNGs of shapes at 1x28x28 in one subfolder per shape, written once (a marker file says it is whole)."""
    from PIL import Image

    from aelab.data import shapes

    folder = FOLDER / f"shapes-{n}"
    if (folder / ".complete").exists():
        return folder
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, size, n) for size in shapes.FACTOR_SIZES], 1)
    names = shapes.FACTORS[0].labels
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for start in range(0, n, 5000):
        part = factors[start : start + 5000]
        pictures = (shapes.render(part, side=28, channels=1)[:, 0] * 255).round().astype(np.uint8)
        for i, (picture, shape) in enumerate(zip(pictures, part[:, 0])):
            Image.fromarray(picture).save(folder / names[shape] / f"{start + i:06d}.png")
    (folder / ".complete").touch()
    return folder


def child_encoding(n: int) -> dict:
    from aelab.data.folders import load_folder
    from aelab.explore.encoding import encode_all
    from aelab.settings import LOCAL_LIMITS
    from aelab.store.checkpoints import load_checkpoint

    threads = torch_threads()
    (folder, written) = timed(lambda: write_folder(n))
    model = load_checkpoint(MODEL).model
    limits = replace(LOCAL_LIMITS, files=max(n, LOCAL_LIMITS.files))
    splits, listed = timed(lambda: load_folder(folder, 0.1, limits, stream=True, side=28, channels=1))
    before = rss_mb(os.getpid())
    calls: list[float] = []
    total, seconds = 0, 0.0
    for split in splits:
        codes, took = timed(lambda: encode_all(model, split.images, progress=calls.append))
        total, seconds = total + len(codes.mu), seconds + took
    return {
        "images": total,
        "seconds": seconds,
        "images_per_s": total / seconds,
        "written_s": written,
        "listed_s": listed,
        "before_mb": before,
        "peak_mb": peak_mb(),
        "progress": len(calls),
        "torch_threads": threads,
    }


def in_child(*args: str) -> dict:
    """Run this script's --child part in a fresh process; its JSON line back."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the map in Chromium ----------------------------------------------------------------------

MAP_PAGE = """
import os
import numpy as np
import streamlit as st
from aelab.data import shapes
from aelab.explore import projections
from aelab.ui import map_figure
from big_map import synthetic_codes

N = int(os.environ["BIG_MAP_POINTS"])


@st.cache_resource
def the_map():
    codes, labels = synthetic_codes(N)
    pca = projections.pca(codes)
    factors = np.random.default_rng(1).integers(0, shapes.FACTOR_SIZES, (N, len(shapes.FACTOR_SIZES)))
    return pca, labels, factors


def on_select():
    rows = map_figure.map_rows(st.session_state["latent_map"].selection.points)
    st.session_state["row"] = rows[0] if rows else None


@st.fragment
def explore(fig, factors):
    chart, detail = st.columns([3, 1.4])
    with chart:
        st.plotly_chart(fig, key="latent_map", on_select=on_select, selection_mode=("points", "box", "lasso"))
    with detail:
        row = st.session_state.get("row")
        if row is not None:
            st.subheader(f"Image {row}")
            st.image(shapes.render(factors[row : row + 1], side=64)[0].transpose(1, 2, 0), width=192)


pca, labels, factors = the_map()
st.title(f"{N} codes")
fig = map_figure.latent_map(pca.coords, pca.index, labels, 10, "PCA", clickable_cells=False)
explore(fig, factors)
"""
CHART_DRAWN = """(n) => {
  const gd = document.querySelector('.js-plotly-plot');
  return !!(gd && gd._fullData && gd.querySelector('.main-svg') && gd.querySelector('canvas') &&
            gd._fullData.reduce((k, t) => k + t.x.length, 0) >= n);
}"""


def map_in_browser(browser, page_file: Path, n: int, clicks: int, loads: int) -> dict:
    """First draw and clicks to the detail, on a fresh server of the map page with n points."""
    port = free_port()
    env = {**os.environ, "BIG_MAP_POINTS": str(n), "PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"}
    proc = subprocess.Popen(
        server_command(page_file, port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        page = browser.new_page(viewport=VIEWPORT)
        for _ in range(600):  # the server listening first
            try:
                page.goto(url)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.1)
        page.wait_for_function(CHART_DRAWN, arg=n, timeout=300_000, polling=20)  # imports done, codes mapped
        page.close()
        drawn = []
        for _ in range(loads):  # then the page as a person opens it again: the map is drawn from the server's cache
            page = browser.new_page(viewport=VIEWPORT)
            opened = time.perf_counter()
            app = open_app(page, url)
            page.wait_for_function(CHART_DRAWN, arg=n, timeout=300_000, polling=20)
            drawn.append(time.perf_counter() - opened)
            page.close()
        page = browser.new_page(viewport=VIEWPORT)
        app = open_app(page, url)
        page.wait_for_function(CHART_DRAWN, arg=n, timeout=300_000, polling=20)
        chart = page.get_by_test_id("stPlotlyChart")
        from aelab.ui.map_figure import MAP_POINTS

        times = []
        for point in isolated_points(chart, MAP_POINTS, (MAP_POINTS,), 3, clicks):
            before = image_srcs(page) if page.get_by_test_id("stImage").count() else []
            start_click_recorder(page, f"Image {int(point['custom'][0])}", 1, before)
            with app.expect_rerun():
                click_plot_point(page, chart, point["x"], point["y"])
            times.append(click_to_shown_seconds(page))
        memory = rss_mb(proc.pid)
        page.close()
        return {"drawn_s": statistics.median(drawn), "loads_s": drawn, "clicks_s": times, "server_mb": memory}
    finally:
        proc.terminate()
        proc.wait()


def listed(seconds: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--methods", nargs="+", default=["pca", "tsne", "umap"])
    parser.add_argument("--images", type=int, default=100_000, help="PNGs in the generated folder to encode")
    parser.add_argument("--parts", nargs="+", default=["projections", "encoding", "browser"])
    parser.add_argument("--clicks", type=int, default=5, help="clicks on the map; the first is reported apart")
    parser.add_argument("--loads", type=int, default=3, help="page loads timed per size, after one not counted")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        torch_threads()
        found = child_projection(rest[0], int(rest[1])) if kind == "projection" else child_encoding(int(rest[0]))
        print(json.dumps(found))
        return
    print(f"torch threads: {torch_threads()}; load average at start: {os.getloadavg()}", flush=True)
    anchor: dict[str, float] = {}
    if "projections" in args.parts:
        for method in args.methods:
            for n in args.sizes:
                found = in_child("projection", method, str(n))
                ratio = "" if n == args.sizes[0] else f" ({found['seconds'] / anchor[method]:.1f}x the first size)"
                anchor.setdefault(method, found["seconds"])
                print(
                    f"{method} of {n} codes: {found['seconds']:.1f} s{ratio}; peak memory {found['peak_mb']:.0f} MB "
                    f"({found['before_mb']:.0f} MB before it); progress called {found['progress']} times; "
                    f"{json.dumps({k: v for k, v in found.items() if k not in ('seconds', 'peak_mb', 'before_mb')})}; "
                    f"load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    if "encoding" in args.parts:
        found = in_child("encoding", str(args.images))
        print(
            f"encoding {found['images']} PNGs streamed (1x28x28, shipped MLP VAE, torch threads "
            f"{found['torch_threads']}): {found['seconds']:.1f} s, {found['images_per_s']:.0f} images/s; "
            f"peak memory {found['peak_mb']:.0f} MB ({found['before_mb']:.0f} MB before it); progress called "
            f"{found['progress']} times; folder written in {found['written_s']:.0f} s, listed in "
            f"{found['listed_s']:.1f} s; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    if "browser" in args.parts:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as scratch:
            page_file = Path(scratch) / "big_map_page.py"
            page_file.write_text(MAP_PAGE)
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            first = None
            for n in args.sizes:
                found = map_in_browser(browser, page_file, n, args.clicks, args.loads)
                first = first or found
                clicks = found["clicks_s"]
                print(
                    f"map of {n} points in Chromium: page opened -> every point drawn, median "
                    f"{found['drawn_s']:.2f} s ({listed(found['loads_s'])}; {found['drawn_s'] / first['drawn_s']:.2f}x "
                    f"the first size); click -> detail: first {clicks[0]:.2f} s, then median "
                    f"{statistics.median(clicks[1:]):.2f} s ({listed(clicks[1:])}); "
                    f"server memory {found['server_mb']:.0f} MB; load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            browser.close()


if __name__ == "__main__":
    main()
