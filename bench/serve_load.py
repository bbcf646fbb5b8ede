"""A served aelab under load: browser sessions working at once while another one trains.

Starts `streamlit run app.py` on 127.0.0.1 (loopback only) with AELAB_SERVED=1, so every served
rule applies, and drives headless Chromium (Debian's /usr/bin/chromium): one session trains an
MLP VAE on the Train page while SESSIONS others, all at once, open the latent map, click a point
each, go to Traverse and drag a slider, then go to Reconstruct and upload a picture of their own.
Every interaction is timed in the page (from the mouse or file input to the new picture drawn), so
the script serving the other sessions meanwhile does not inflate it. After each round every session
must show only its own state: its own point, its own upload; any other is reported and fails the run.
Reports the server's resident memory (sampled every 0.2 s: peak and at the end), the slowest and
the median interaction of each kind, and how far the training got meanwhile.

Bounded: SESSIONS browser contexts (default 10, `--sessions N`) and a deadline for the whole run
(`--deadline SECONDS`, default 900); past it the run stops and says where it was.

    AELAB_DATA_DIR=../shared/datasets .venv/bin/python bench/serve_load.py [--sessions 10]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "system" / "browser")]

import streamlit_page  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402
from streamlit_page import (  # noqa: E402
    CHROMIUM_ARGS,
    VIEWPORT,
    AppSocket,
    click_plot_point,
    click_to_shown_seconds,
    drag_slider,
    isolated_points,
    server_command,
    start_click_recorder,
    upload_file,
)

from aelab.data.registry import data_dir, load_dataset  # noqa: E402
from aelab.ui.map_figure import MAP_CELLS, MAP_POINTS  # noqa: E402

UPLOADER = "Images (PNG, JPEG, BMP, GIF, WebP)"
TRAIN_EPOCHS = 500  # the most allowed: the run trains through every round and is stopped at the end
WAIT_MS = 300_000  # the test helpers' waits (60 s there): ten first page loads at once take minutes here

# Time (ms) from the next pointerup (the slider's handlers suppress mouseup) to the page's pictures differing
# from `before`, all loaded.
_TIME_NEW_PICTURES = """before => {
  const rec = window.__drag = {up: null, shown: null};
  document.addEventListener('pointerup', () => { rec.up ??= Date.now(); }, {capture: true, once: true});
  const srcs = () => [...document.querySelectorAll("[data-testid='stImage'] img")];
  const timer = setInterval(() => {
    const imgs = srcs();
    if (rec.up !== null && JSON.stringify(imgs.map(i => i.src)) !== JSON.stringify(before)
        && imgs.every(i => i.complete && i.naturalWidth > 0)) { rec.shown = Date.now(); clearInterval(timer); }
  }, 20);
}"""

# Time (ms) from now until `text` is on the page with every picture loaded.
_TIME_TEXT = """text => {
  const rec = window.__upload = {start: Date.now(), shown: null};
  const timer = setInterval(() => {
    const imgs = [...document.querySelectorAll("[data-testid='stImage'] img")];
    if (document.body.innerText.includes(text) && imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0)) {
      rec.shown = Date.now(); clearInterval(timer);
    }
  }, 20);
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Memory(threading.Thread):
    """The server process's resident memory, sampled until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.halt = pid, [], threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            self.samples.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end, self.seconds = time.monotonic() + seconds, seconds

    def ms(self) -> float:
        """Milliseconds left, for Playwright's timeouts; past the deadline the run stops."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise SystemExit(f"stopped: the run took more than its deadline of {self.seconds:.0f} s")
        return left * 1000


def go_to(page: Page, app: AppSocket, title: str, heading: str, deadline: Deadline) -> None:
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile(rf"{re.escape(title)}$"))
    with app.expect_rerun():
        link.click(timeout=deadline.ms())
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=deadline.ms())


def picture(path: Path, digit: np.ndarray) -> None:
    """A person's scan of a digit: black ink on white paper, enlarged."""
    Image.fromarray(np.round(255 * (1 - np.kron(digit, np.ones((4, 4))))).astype(np.uint8)).save(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="browser sessions working besides the trainer")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds the whole run may take")
    args = parser.parse_args()
    deadline = Deadline(args.deadline)
    streamlit_page.TIMEOUT_MS = WAIT_MS
    tmp = Path(tempfile.mkdtemp(prefix="aelab-serve-load-"))
    port = free_port()
    env = {
        **os.environ,
        "AELAB_SERVED": "1",
        "AELAB_DATA_DIR": str(data_dir()),
        "AELAB_CACHE_DIR": str(tmp / "cache"),
        "AELAB_RUNS_DIR": str(tmp / "runs"),
        "PYTHONUNBUFFERED": "1",
    }
    log = (tmp / "server.log").open("wb")
    server = subprocess.Popen(
        server_command("app.py", port),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url, memory, problems = f"http://127.0.0.1:{port}", Memory(server.pid), []
    memory.start()
    digits = load_dataset("mnist", "test", download=False).images[:, 0].numpy()
    started = time.monotonic()
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
            deadline.ms()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(args.sessions + 1)]
            pages = [context.new_page() for context in contexts]
            sockets = [AppSocket(page) for page in pages]
            trainer, trainer_socket = pages[0], sockets[0]
            workers, worker_sockets = pages[1:], sockets[1:]

            # The trainer starts a long run; everyone else arrives at once meanwhile.
            trainer.goto(f"{url}/train")
            trainer_socket.wait_for_runs(1)
            trainer.get_by_role("heading", name="Train a model", exact=True).wait_for(timeout=deadline.ms())
            trainer.get_by_text("Optimiser and stopping", exact=True).click()
            for label, value in (("Early-stopping patience (epochs)", 0), ("Epochs", TRAIN_EPOCHS)):
                field = trainer.get_by_label(label, exact=True)
                with trainer_socket.expect_rerun():
                    field.fill(str(value))
                    field.press("Enter")
            trainer.get_by_role("button", name=re.compile(r"\bTrain$")).click()
            trainer.get_by_role("button", name=re.compile(r"\bStop$")).wait_for(timeout=deadline.ms())
            print(f"trainer: training started {time.monotonic() - started:.0f} s after `streamlit run`", flush=True)

            arrived = time.monotonic()
            for page in workers:
                page.goto(url, wait_until="commit")
            charts = []
            for page, app in zip(workers, worker_sockets):
                chart = page.get_by_test_id("stPlotlyChart")
                gd = chart.locator(".js-plotly-plot").element_handle(timeout=deadline.ms())
                app.wait_for_runs(1)
                page.wait_for_function(
                    "gd => gd._fullData && gd._fullData.length >= 2 && gd._fullLayout.xaxis",
                    arg=gd,
                    timeout=deadline.ms(),
                )
                charts.append(chart)
            print(
                f"{len(workers)} sessions opened the latent map together in {time.monotonic() - arrived:.0f} s",
                flush=True,
            )

            # Round 1: everyone clicks a point of their own at once.
            points = isolated_points(charts[0], MAP_POINTS, (MAP_POINTS, MAP_CELLS), 4, len(workers))
            indices = [int(p["custom"][0]) for p in points]
            for page, chart, point, index in zip(workers, charts, points, indices):
                start_click_recorder(page, f"Image {index}")
                click_plot_point(page, chart, point["x"], point["y"])
            for page in workers:
                page.wait_for_function("() => window.__aelab.shown", timeout=deadline.ms())
            clicks = [click_to_shown_seconds(page) for page in workers]
            for number, (page, index) in enumerate(zip(workers, indices), 1):
                shown = page.get_by_role("heading", name=re.compile(r"^Image \d+$")).inner_text()
                if shown != f"Image {index}":
                    problems.append(f"session {number} clicked image {index} and shows {shown!r}")
            print("map clicks done", flush=True)

            # Round 2: everyone drags the first traversal slider at once.
            for page, app in zip(workers, worker_sockets):
                go_to(page, app, "Traverse", "Traverse", deadline)
            for page in workers:
                page.wait_for_function(
                    "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")]"
                    ".filter(i => i.complete && i.naturalWidth > 0).length >= 4",
                    timeout=deadline.ms(),
                )
            for page in workers:
                first = page.get_by_test_id("stSlider").first
                label = first.get_by_test_id("stWidgetLabel").inner_text()
                before = page.evaluate(
                    "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].map(i => i.src)"
                )
                page.evaluate(_TIME_NEW_PICTURES, before)
                now, low, high = first.locator("input[type=range]").evaluate("i => [+i.value, +i.min, +i.max]")
                drag_slider(page, label, 0.1 if (now - low) / (high - low) > 0.5 else 0.9)
            for page in workers:
                page.wait_for_function("() => window.__drag.shown", timeout=deadline.ms())
            drags = [page.evaluate("() => window.__drag.shown - window.__drag.up") / 1000 for page in workers]
            print("slider drags done", flush=True)

            # Round 3: everyone uploads a picture of their own at once.
            for page, app in zip(workers, worker_sockets):
                go_to(page, app, "Reconstruct", "Reconstruct", deadline)
            names = [f"session-{number}.png" for number in range(1, len(workers) + 1)]
            for number, (page, name) in enumerate(zip(workers, names), 1):
                picture(tmp / name, digits[100 + number])
                page.evaluate(_TIME_TEXT, "1 image(s) kept for the other pages")
                upload_file(page, UPLOADER, tmp / name)
            for page in workers:
                page.wait_for_function("() => window.__upload.shown", timeout=deadline.ms())
            uploads = [page.evaluate("() => window.__upload.shown - window.__upload.start") / 1000 for page in workers]
            for number, (page, name) in enumerate(zip(workers, names), 1):
                shown = page.locator("strong").filter(has_text=re.compile(r"^session-\d+\.png$")).all_inner_texts()
                if shown != [name]:
                    problems.append(f"session {number} uploaded {name} and shows {shown}")
            print("uploads done", flush=True)

            # Back on the map: each session's own point and only its own upload.
            for number, (page, app, index, name) in enumerate(zip(workers, worker_sockets, indices, names), 1):
                go_to(page, app, "Latent map", "Latent map", deadline)
                page.get_by_role("heading", name=re.compile(r"^Image \d+$")).wait_for(timeout=deadline.ms())
                heading = page.get_by_role("heading", name=re.compile(r"^Image \d+$")).inner_text()
                gd = page.get_by_test_id("stPlotlyChart").first.locator(".js-plotly-plot").element_handle()
                page.wait_for_function(
                    "gd => gd._fullData && gd._fullData.some(t => t.name === 'uploads')", arg=gd, timeout=deadline.ms()
                )
                stars = gd.evaluate("gd => gd._fullData.filter(t => t.name === 'uploads').map(t => Array.from(t.text))")
                if heading != f"Image {index}" or stars != [[name]]:
                    problems.append(f"session {number}: map shows {heading!r} and uploads {stars}")

            trainer.get_by_role("button", name=re.compile(r"\bStop$")).click()
            trainer.get_by_test_id("stAlertContentInfo").filter(has_text=re.compile(r"^Stopped")).wait_for(
                timeout=deadline.ms()
            )
            outcome = trainer.get_by_test_id("stAlertContentInfo").filter(has_text=re.compile(r"^Stopped")).inner_text()
            browser.close()
    finally:
        memory.halt.set()
        memory.join()
        server.terminate()
        server.wait()
        log.close()

    print(
        f"\nserved aelab, {len(workers)} sessions working while one trained "
        f"({time.monotonic() - started:.0f} s in all; server log {tmp / 'server.log'}):"
    )
    for what, times in (
        ("map click -> image and reconstruction shown", clicks),
        ("slider drag -> new decode shown", drags),
        ("upload -> prepared and scored", uploads),
    ):
        print(
            f"  {what}: slowest {max(times):.1f} s, median {statistics.median(times):.1f} s "
            f"({', '.join(f'{t:.1f}' for t in times)})"
        )
    print(f"  slowest interaction of all: {max(clicks + drags + uploads):.1f} s")
    print(f"  server resident memory: peak {max(memory.samples):,.0f} MB, at the end {memory.samples[-1]:,.0f} MB")
    print(f"  the training meanwhile: {outcome.splitlines()[0]}")
    print(
        "  isolation: "
        + ("every session showed only its own point and upload" if not problems else "VIOLATED: " + "; ".join(problems))
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
