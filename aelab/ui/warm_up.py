"""Torch imported in the background once the first page is drawn, so the first click need not wait for it."""

from __future__ import annotations

import os
import threading
import time

import streamlit as st

WARM_UP_IDLE = 1.0  # seconds this server and a core of the machine must have been idle before importing torch
WARM_UP_LATEST = 10.0  # ...or seconds after the first page, however busy they stay
WARM_UP_STEP = 0.1  # seconds between two looks


def _machine_idle() -> float | None:
    """The machine's idle CPU seconds so far, as Linux reports them (/proc/stat); None elsewhere."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _import_models_when_idle() -> None:
    """Import torch and the models once this process has been idle, and a core free, for WARM_UP_IDLE seconds.

    When the first page's run ends, the browser is still fetching Plotly's 4.7 MB script from this
    process, then drawing the map: an import holding the GIL and a core then slows both (measured on
    this project's two cores: the script took about three times as long to arrive while torch was
    imported, and the map took seconds longer to draw).
    """
    start = busy = time.monotonic()
    used, idle = time.process_time(), _machine_idle()
    while time.monotonic() - busy < WARM_UP_IDLE and time.monotonic() - start < WARM_UP_LATEST:
        time.sleep(WARM_UP_STEP)
        now_used, now_idle = time.process_time(), _machine_idle()
        if now_used - used > 0.1 * WARM_UP_STEP or (idle is not None and now_idle - idle < 0.8 * WARM_UP_STEP):
            busy = time.monotonic()  # this server at work, or not even 80% of one core to spare
        used, idle = now_used, now_idle
    import aelab.anomaly  # noqa: F401  torch, the models, and the scores the map's detail panel shows


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """Start importing torch and the models, once per process, in a thread of its own.

    The first page is drawn without them; importing them takes about two seconds, which the first
    click on the map would otherwise wait for. A page that needs them sooner imports them itself
    (Python's import lock makes it wait for an import under way, never repeat it).
    """
    thread = threading.Thread(target=_import_models_when_idle, name="aelab-warm-up", daemon=True)
    thread.start()
    return thread
