"""Fixtures for real-browser tests: Playwright drives Debian's Chromium, headless, against `streamlit run`.

Nothing here skips: a missing playwright package, a missing /usr/bin/chromium or a
browser without WebGL (Plotly's Scattergl needs it) fails the tests with a message,
because a skipped browser test proves nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright
from streamlit_page import (  # first: raises a clear error if playwright is missing
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    VIEWPORT,
    StreamlitApp,
    server_command,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
SERVER_START_TIMEOUT_S = 60.0
FAILURE_DIR = Path(tempfile.gettempdir()) / "aelab-browser-failures"
SERVER_LOG_TAIL = 4000  # characters of each running server's log shown with a failure
_server_logs: list[Path] = []  # logs of the servers running now

# expect() defaults to 5 s, too short on a busy 2-core machine; wait as long as the helpers do.
expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed test, screenshot its open pages and show the server logs' tails.

    Why: a failed expectation says what was missing, not what the page showed instead
    (a traceback, a spinner, an error box), and a flaky failure may not come back.
    """
    report = yield
    if report.failed and call.when == "call":
        browser = item.funcargs.get("browser")
        pages = [page for context in browser.contexts for page in context.pages] if browser else []
        shots = []
        for number, page in enumerate(pages):
            path = FAILURE_DIR / f"{item.name}-{number}.png"
            try:
                page.screenshot(path=path, full_page=True, timeout=15_000)
                shots.append(str(path))
            except Error as exc:
                shots.append(f"{path}: not taken ({exc.message.splitlines()[0]})")
        if shots:
            report.sections.append(("screenshots", "\n".join(shots)))
        for log in _server_logs:
            report.sections.append((f"streamlit log {log}", log.read_text(errors="replace")[-SERVER_LOG_TAIL:]))
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session (launching costs seconds)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's `chromium` package", pytrace=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            _require_webgl(browser)
            yield browser
        finally:
            browser.close()


def _require_webgl(browser: Browser) -> None:
    """Fail early and clearly if Chromium has no WebGL, instead of a blank Scattergl later."""
    page = browser.new_page()
    try:
        has_webgl = page.evaluate("() => !!document.createElement('canvas').getContext('webgl')")
    finally:
        page.close()
    if not has_webgl:
        pytest.fail(f"Chromium has no WebGL with {CHROMIUM_ARGS}: Scattergl cannot render", pytrace=False)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in its own browser context: a fresh Streamlit session with no shared storage."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def streamlit_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitApp]:
    """Factory `streamlit_app(script_path) -> url`; servers stop when the module's tests end.

    `script_path` is relative to the repo root (or absolute); the server gets this process's environment, so
    start it inside the `settings` fixture's block to give it settings of its own.
    Module scope lets one server serve all tests of a module (startup costs seconds).
    """
    with ExitStack() as servers:

        def start(script_path: str | Path) -> str:
            log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
            return servers.enter_context(_run_streamlit(REPO_ROOT / script_path, log_path))

        yield start


@contextmanager
def _run_streamlit(script: Path, log_path: Path) -> Iterator[str]:
    """Run `streamlit run script` on a free local port until the block exits; yield its URL."""
    port = _free_port()
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(
            [*server_command(script, port), "--server.fileWatcherType", "none"],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _server_logs.append(log_path)
    try:
        _wait_until_healthy(proc, port, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        _server_logs.remove(log_path)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Poll /_stcore/health until it answers "ok"; fail with the server's output otherwise."""
    url = f"http://127.0.0.1:{port}/_stcore/health"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.read() == b"ok":
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(
        f"streamlit did not answer {url} within {SERVER_START_TIMEOUT_S:.0f} s:\n{log_path.read_text()}",
        pytrace=False,
    )
