"""The app as a person meets it: `streamlit run app.py`, then a real browser (Debian's Chromium).

Measures the time from starting the server to the first page drawn (the latent map's chart
visible), cold (empty cache) and warm (latents and projections in the disk cache), and the
server process's resident memory after every page has been opened with the 10k MNIST test
set loaded. For scale, the same for a bare page holding nothing but a Plotly chart of 10,000
random points: what Streamlit, Plotly.js and software WebGL cost before aelab does anything.

    AELAB_DATA_DIR=../shared/datasets python bench/app_browser.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["traverse", "interpolate", "sample", "reconstruct", "train", "denoise", "anomaly", "compare"]
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


def start_server(cache: str, script: str = "app.py") -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    env = {**os.environ, "AELAB_CACHE_DIR": cache, "AELAB_RUNS_DIR": tempfile.mkdtemp()}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url, started
        except OSError:
            time.sleep(0.05)


def first_page(browser, cache: str, label: str, visit_all: bool, script: str = "app.py") -> None:
    proc, url, started = start_server(cache, script)
    try:
        ready = time.perf_counter() - started
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        opened = time.perf_counter()
        page.goto(url)
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=300_000)
        drawn = time.perf_counter()
        print(f"{label}: server ready {ready:.1f} s; page opened -> map drawn {drawn - opened:.1f} s; "
              f"`streamlit run` -> map drawn {drawn - started:.1f} s")
        if visit_all:
            for name in PAGES:
                page.goto(f"{url}/{name}")
                page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=300_000)
                page.locator('[data-testid="stSkeleton"]').first.wait_for(state="detached", timeout=300_000)
            print(f"resident memory of the app process after opening every page: {rss_mb(proc.pid):.0f} MB")
        page.close()
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    cache = tempfile.mkdtemp(prefix="aelab-bench-")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        first_page(browser, cache, "cold cache", visit_all=True)
        first_page(browser, cache, "warm cache", visit_all=False)
        with tempfile.NamedTemporaryFile("w", suffix=".py", dir=ROOT) as bare:
            bare.write(BARE_PAGE)
            bare.flush()
            first_page(browser, cache, "bare Plotly page, for scale", visit_all=False, script=bare.name)
        browser.close()


if __name__ == "__main__":
    main()
