"""Playwright helpers that drive a Streamlit page the way a user does.

Verified against Streamlit 1.67 (Plotly.js 3.8 bundled), Playwright 1.65 and
Debian Chromium 156. Test ids relied on: stApp (its data-test-script-state and
data-test-connection-state attributes), stSkeleton, stPlotlyChart (and Plotly's
.js-plotly-plot inside it), stSlider, stWidgetLabel, stSliderThumbValue,
stFileUploader, stFileUploaderDropzoneInput, stImage.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

try:
    from playwright.sync_api import Locator, Page, WebSocket, expect
except ModuleNotFoundError as exc:  # fail loudly: a skipped browser test proves nothing
    raise ModuleNotFoundError(
        "tests/system/browser needs the Python package `playwright` in this interpreter "
        "(pip install playwright); no browser download is needed, it drives /usr/bin/chromium"
    ) from exc

TIMEOUT_MS = 60_000  # generous: page loads take 5-20 s on a loaded 2-core machine
VIEWPORT = {"width": 1280, "height": 1000}  # every browser context's window
# No GPU here: WebGL comes from SwiftShader (software Vulkan) behind ANGLE. Chromium
# only falls back to it when allowed (--enable-unsafe-swiftshader; Playwright also
# passes that by default, we do not rely on it). --disable-gpu is deliberately absent.
# launch() always creates a fresh temporary --user-data-dir (passing one is refused).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def server_command(script: str | Path, port: int) -> list[str]:
    """`streamlit run` of `script` on 127.0.0.1:`port`, headless and sending no usage statistics: how the
    browser tests and the benchmarks start every server."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]


class StreamlitApp(Protocol):
    """Type of conftest's `streamlit_app` factory fixture: start a server, get its URL."""

    def __call__(self, script_path: str | Path, env: Mapping[str, str] | None = None) -> str: ...


_APP_IDLE = "[data-testid='stApp'][data-test-connection-state='CONNECTED'][data-test-script-state='notRunning']"

# Data -> viewport pixels through the plot's own axes (d2p handles linear, log and date).
_DATA_TO_CLIENT = """([gd, [x, y]]) => {
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const inside = (ax, v) => { const [a, b] = ax.range.map(ax.r2l); const l = ax.d2l(v);
                              return Math.min(a, b) <= l && l <= Math.max(a, b); };
  return {x: box.left + xa._offset + xa.d2p(x), y: box.top + ya._offset + ya.d2p(y),
          inside: inside(xa, x) && inside(ya, y)};
}"""

# Plotly selects on click from its last *hover* result (gd._hoverdata), and hover is
# throttled, so wait until hover has been computed at exactly this pointer position.
_HOVER_AT = """([gd, [x, y]]) => {
  const box = gd.getBoundingClientRect();
  return Math.abs(gd._hoverPointerX - (x - box.left)) < 1.5 &&
         Math.abs(gd._hoverPointerY - (y - box.top)) < 1.5;
}"""

# Plotly counts a mousedown within doubleClickDelay of the previous one as a double
# click, which Streamlit turns into "clear the selection".
_NO_PENDING_DOUBLE_CLICK = """([gd]) => !gd._mouseDownTime ||
  Date.now() - gd._mouseDownTime > gd._context.doubleClickDelay"""

_HOVERED = """([gd]) => gd._hoverdata && gd._hoverdata.length
  ? [gd._hoverdata[0].curveNumber, gd._hoverdata[0].pointNumber] : null"""

_IMAGE_SRCS = """() => [...document.querySelectorAll("[data-testid='stImage'] img")].map(i => i.src)"""
_IMAGES_LOADED = """() => [...document.querySelectorAll("[data-testid='stImage'] img")]
  .every(i => i.complete && i.naturalWidth > 0)"""


# Points of the traces in legend group `group` with no point of the groups in `avoid` within minPx
# pixels (so a click on one hovers exactly it), at least 2*minPx apart and 10 px inside the plot area.
# Visited in a fixed scrambled order, so the picks spread over the map and repeat run to run.
_ISOLATED_POINTS = """([gd, group, avoid, minPx, count]) => {
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, cells = new Map();
  const key = (cx, cy) => cx + ',' + cy;
  const pixels = (t) => Array.from(t.x, (x, i) => [xa.d2p(x), ya.d2p(t.y[i]), t.index, i]);
  gd._fullData.filter(t => avoid.includes(t.legendgroup)).forEach(t => pixels(t).forEach(p => {
    const k = key(Math.floor(p[0] / minPx), Math.floor(p[1] / minPx));
    if (!cells.has(k)) cells.set(k, []);
    cells.get(k).push(p);
  }));
  const lonely = ([px, py, c, i]) => {
    const cx = Math.floor(px / minPx), cy = Math.floor(py / minPx);
    for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++)
      for (const [qx, qy, qc, qi] of cells.get(key(cx + dx, cy + dy)) || [])
        if ((qc !== c || qi !== i) && Math.hypot(qx - px, qy - py) < minPx) return false;
    return true;
  };
  const pts = gd._fullData.filter(t => t.legendgroup === group).flatMap(pixels), n = pts.length, found = [];
  for (let k = 0; k < n && found.length < count; k++) {
    const p = pts[(k * 7919) % n], [px, py, c, i] = p;
    const inside = px > 10 && px < xa._length - 10 && py > 10 && py < ya._length - 10;
    if (inside && lonely(p) && found.every(f => Math.hypot(f.px - px, f.py - py) >= 2 * minPx)) {
      const t = gd._fullData[c];
      found.push({curve: c, index: i, px, py, x: t.x[i], y: t.y[i],
                  custom: t.customdata ? Array.from(t.customdata[i], Number) : null});
    }
  }
  return found;
}"""

# In-page recorder of one click: the mousedown time, the time the page first showed an h3
# `heading` with `images` loaded st.image pictures whose sources differ from `before`, and
# every toast's text. Measured in the page, so a test thread serving other sessions meanwhile
# neither inflates the times nor misses a toast that hid itself before the thread got back.
_START_RECORDER = """([heading, images, before]) => {
  const rec = window.__aelab = {down: null, shown: null, toasts: []};
  document.addEventListener('mousedown', () => { rec.down ??= Date.now(); }, {capture: true, once: true});
  const timer = setInterval(() => {
    const headed = [...document.querySelectorAll('h3')].some(h => h.textContent.trim() === heading);
    const imgs = [...document.querySelectorAll("[data-testid='stImage'] img")];
    if (rec.down !== null && rec.shown === null && headed && imgs.length === images &&
        imgs.every(i => i.complete && i.naturalWidth > 0) && imgs.every(i => !before.includes(i.src)))
      rec.shown = Date.now();
    for (const t of document.querySelectorAll("[data-testid='stToastText']"))
      if (!rec.toasts.includes(t.textContent)) rec.toasts.push(t.textContent);
  }, 10);
  rec.stop = () => clearInterval(timer);
}"""


def wait_for_app(page: Page) -> None:
    """Wait until the websocket is up, no script run is in progress and nothing is still a skeleton.

    This cannot tell whether a rerun you just caused has happened yet (a fast rerun may
    never show "running" in the DOM); use `AppSocket.expect_rerun` for that.
    """
    page.locator(_APP_IDLE).wait_for(state="attached", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=TIMEOUT_MS)


class AppSocket:
    """Decodes the page's Streamlit websocket: BackMsgs sent, script runs finished.

    Why: stApp's data-test-script-state does not reliably pass through "running" for
    a fast rerun (React batches the state changes; seen in ~1 of 6 plot clicks), so the
    DOM cannot say "the rerun I caused is over". The server's script_finished
    ForwardMsg can. Create it before `page.goto` (see `open_app`).
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.sent: list[str] = []  # BackMsg kinds, e.g. "rerun_script", "app_heartbeat"
        self.runs_finished = 0
        self._socket: WebSocket | None = None
        page.on("websocket", lambda ws: self._attach(ws))

    def _attach(self, ws: WebSocket) -> None:
        if ws.url.endswith("/_stcore/stream"):
            self._socket = ws
            ws.on("framesent", lambda payload: self._on_sent(payload))
            ws.on("framereceived", lambda payload: self._on_received(payload))

    def _on_sent(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            self.sent.append(BackMsg.FromString(payload).WhichOneof("type") or "")

    def _on_received(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            msg = ForwardMsg.FromString(payload)
            finished = msg.WhichOneof("type") == "script_finished"
            if finished and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                self.runs_finished += 1

    def wait_for_runs(self, count: int) -> None:
        """Wait until `count` script runs have finished in this session, then for the page to settle."""
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while self.runs_finished < count:
            remaining_ms = (deadline - time.monotonic()) * 1000
            if remaining_ms <= 0:
                raise AssertionError(
                    f"{self.runs_finished} script runs finished, expected {count}; BackMsgs sent: {self.sent}"
                )
            if self._socket is None:  # Playwright only dispatches events while we wait on it
                self.page.wait_for_event("websocket", timeout=remaining_ms)
            else:
                self._socket.wait_for_event("framereceived", timeout=remaining_ms)
        wait_for_app(self.page)

    @contextmanager
    def expect_rerun(self) -> Iterator[None]:
        """Wait, after the block, for a script run that the block caused to finish."""
        target = self.runs_finished + 1
        yield
        self.wait_for_runs(target)


def open_app(page: Page, url: str) -> AppSocket:
    """Load the app and wait for its first script run; the returned AppSocket tracks later reruns."""
    socket = AppSocket(page)
    page.goto(url)
    socket.wait_for_runs(1)
    return socket


def _plot_eval(page: Page, chart: Locator, js: str, *args: object) -> object:
    """Evaluate `js` with [graph div, *args]; the Plotly graph div carries _fullLayout and hover state."""
    gd = chart.locator(".js-plotly-plot").element_handle(timeout=TIMEOUT_MS)
    return page.evaluate(js, [gd, *args])


def _plot_wait(page: Page, chart: Locator, js: str, *args: object) -> None:
    """Wait until `js`, called with [graph div, *args], is truthy."""
    gd = chart.locator(".js-plotly-plot").element_handle(timeout=TIMEOUT_MS)
    page.wait_for_function(js, arg=[gd, *args], timeout=TIMEOUT_MS)


def click_plot_point(page: Page, chart: Locator, x: float, y: float) -> tuple[int, int] | None:
    """Click at DATA coordinates (x, y) of a Plotly chart; return the hovered (curve number, point index).

    With `st.plotly_chart(..., on_select="rerun", selection_mode="points")` Streamlit
    sets clickmode "event+select" and dragmode "pan". A plain click then makes
    Plotly emit plotly_selected with the hovered point (plus plotly_click); Streamlit
    forwards only plotly_selected (its plotly_click handler only handles
    sunburst/treemap-style points) and reruns with
    selection = {points: [{x, y, curve_number, point_number, point_index, ...}],
    point_indices: [i], box: [], lasso: []}. Clicking the only selected point again
    deselects it (rerun with an empty selection); double-click clears it.

    The hovered point is the nearest one of ANY trace (Scattergl ranks by distance
    between centres), so the curve number says which trace the click selected.
    A click on EMPTY space (no point within Plotly's 20 px hover distance) sends
    nothing to Streamlit at all: no event reaches its handlers, no websocket message,
    no rerun, and the previous selection stays. Returns None in that case.
    """
    chart.scroll_into_view_if_needed()
    _plot_wait(page, chart, "([gd]) => !!(gd._fullLayout && gd._fullLayout.xaxis)")
    target = _plot_eval(page, chart, _DATA_TO_CLIENT, [x, y])
    if not target["inside"]:
        raise ValueError(f"({x}, {y}) is outside the plot's current axis ranges")
    px, py = target["x"], target["y"]
    _plot_wait(page, chart, _NO_PENDING_DOUBLE_CLICK)
    page.mouse.move(px + 3, py + 3)  # guarantees a fresh hover even if already at (px, py)
    page.mouse.move(px, py)
    _plot_wait(page, chart, _HOVER_AT, [px, py])
    hovered = _plot_eval(page, chart, _HOVERED)
    page.mouse.click(px, py)
    return None if hovered is None else (hovered[0], hovered[1])


def plot_to_client(page: Page, chart: Locator, x: float, y: float) -> tuple[float, float]:
    """Viewport pixels of DATA coordinates (x, y) of a Plotly chart."""
    target = _plot_eval(page, chart, _DATA_TO_CLIENT, [x, y])
    return target["x"], target["y"]


def drag_slider(page: Page, label: str, fraction: float) -> str:
    """Drag the thumb of the slider labelled `label` to `fraction` (0..1) of its track; return the new label.

    Uses real mouse down/move/up so the widget's own drag code runs; Streamlit
    commits the value (and reruns) on mouse up.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    slider = page.get_by_test_id("stSlider").filter(
        has=page.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(rf"^{re.escape(label)}$"))
    )
    slider.scroll_into_view_if_needed()
    value = slider.get_by_test_id("stSliderThumbValue")
    thumb = value.locator("xpath=..")  # the thumb carries the value label
    track = thumb.locator("xpath=..")  # the thumb is positioned in % of the track
    thumb_box, track_box = thumb.bounding_box(), track.bounding_box()
    assert thumb_box and track_box, f"slider {label!r} is not rendered"
    y = thumb_box["y"] + thumb_box["height"] / 2
    page.mouse.move(thumb_box["x"] + thumb_box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track_box["x"] + fraction * track_box["width"], y, steps=10)
    page.mouse.up()
    # The thumb loses data-dragging once React has handled the mouse up: the label is final.
    expect(slider.locator("[data-dragging]")).to_have_count(0, timeout=TIMEOUT_MS)
    return value.inner_text()


def draw_stroke(page: Page, canvas: Locator, start: tuple[float, float], end: tuple[float, float]) -> None:
    """One stroke of the mouse across a drawing canvas, between fractions of its width and height."""
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=12)
    page.mouse.up()


def upload_file(page: Page, label: str, path: Path | str) -> None:
    """Give a file to the st.file_uploader labelled `label` (what a file chooser would do)."""
    uploader = page.get_by_test_id("stFileUploader").filter(
        has=page.get_by_test_id("stWidgetLabel").filter(has_text=re.compile(rf"^{re.escape(label)}$"))
    )
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)


def image_srcs(page: Page) -> list[str]:
    """The src of every st.image, in page order, once each has actually loaded.

    Streamlit serves images from /media/<hash>.<ext>, so a src changes exactly when
    the image content changes; waiting for `complete` makes a broken media URL fail.
    """
    page.wait_for_function(_IMAGES_LOADED, arg=None, timeout=TIMEOUT_MS)
    return page.evaluate(_IMAGE_SRCS)


def wait_for_new_images(page: Page, before: list[str]) -> list[str]:
    """Wait until the st.image srcs differ from `before` and have loaded; return them.

    Why: the rerun's script_finished can reach the test a moment before React has
    rendered the new <img>, so read images by waiting for the change, not once.
    """
    page.wait_for_function(
        f"before => JSON.stringify(({_IMAGE_SRCS})()) !== JSON.stringify(before) && ({_IMAGES_LOADED})()",
        arg=before,
        timeout=TIMEOUT_MS,
    )
    return image_srcs(page)


def isolated_points(chart: Locator, group: str, avoid: tuple[str, ...], min_px: float, count: int) -> list[dict]:
    """`count` points of the traces in legend group `group` that a click can hit unambiguously, each with
    its curve and index in it (see _ISOLATED_POINTS)."""
    points = chart.locator(".js-plotly-plot").evaluate(
        f"(gd, args) => ({_ISOLATED_POINTS})([gd, ...args])", [group, list(avoid), min_px, count]
    )
    assert len(points) == count, f"only {len(points)} points of {group} are {min_px} px from {avoid}"
    return points


def start_click_recorder(page: Page, heading: str, images: int = 3, before: list[str] | None = None) -> None:
    """Record, in the page, the next mousedown and when `heading` then shows with `images` new pictures."""
    page.evaluate("() => window.__aelab && window.__aelab.stop()")
    page.evaluate(_START_RECORDER, [heading, images, before or []])


def click_to_shown_seconds(page: Page) -> float:
    """Seconds from the recorded mousedown to the detail shown, once it is shown."""
    page.wait_for_function("() => window.__aelab.shown", timeout=TIMEOUT_MS)
    return page.evaluate("() => window.__aelab.shown - window.__aelab.down") / 1000


def recorded_toasts(page: Page) -> list[str]:
    """The toasts' texts since the recorder started, once there is at least one."""
    page.wait_for_function("() => window.__aelab.toasts.length", timeout=TIMEOUT_MS)
    return page.evaluate("() => window.__aelab.toasts")
