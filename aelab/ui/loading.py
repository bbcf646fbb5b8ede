"""A folder or zip read on the script thread, drawn as it goes: a progress bar and a Stop reading button.

Streamlit records what a cached function draws, to replay it on a cache hit, and a bar drawn
from inside one (folder_splits, zip_splits below) onto an element made outside it could
not be replayed. So the callbacks draw in the context the page had before the call (contextvars),
where nothing is recorded. A click while a run is busy ends that run at its next drawing call:
redrawing at least every POLL_SECONDS is what lets Stop end a load at once, however slow its
files; the run the click starts finds the load marked stopped and does not begin it again.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from aelab.data.dataset import DatasetUnavailable, Splits
from aelab.data.folders import Progress, load_folder, load_zip
from aelab.settings import Limits
from aelab.ui.text import load_progress, markdown_safe

POLL_SECONDS = 0.25
STOPPED_KEY = "load_stopped"  # the key of the load the person stopped


class Loader:
    """One load's progress bar and Stop button, drawn once the load reports; `done()` removes them."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._slot = st.empty()
        self._outer = contextvars.copy_context()
        self._bar: DeltaGenerator | None = None
        self._report: tuple[str, int, int] | None = None
        self._drawn = 0.0

    def progress(self, phase: str, done: int, total: int) -> None:
        """data.Progress: each report redraws the bar."""
        self._report = (phase, done, total)
        self._outer.run(self._draw, self._report)

    def should_stop(self) -> bool:
        """Polled for every file: redraws the bar when due, which is where a click on Stop ends this run."""
        if self._report is not None and time.monotonic() - self._drawn > POLL_SECONDS:
            self._outer.run(self._draw, self._report)
        return False

    def done(self) -> None:
        self._slot.empty()

    def _draw(self, report: tuple[str, int, int]) -> None:
        value, words = load_progress(*report)
        if self._bar is None:
            box = self._slot.container()
            self._bar = box.progress(value, text=words)
            box.button("Stop reading", key="load_stop", icon=":material/stop:", on_click=_stop, args=(self.key,))
        else:
            self._bar.progress(value, text=words)
        self._drawn = time.monotonic()


def _stop(key: str) -> None:
    st.session_state[STOPPED_KEY] = key


def load(key: str, where: str, read: Callable[[Loader], Splits]) -> Splits | None:
    """`read(loader)`, drawn as it goes, unless the person stopped the load with this key; None after
    saying why there is nothing (stopped, or refused with one line)."""
    if st.session_state.get(STOPPED_KEY) == key:
        st.info(f"Stopped reading {markdown_safe(where)}.")
        st.button("Read it again", key="load_again", on_click=st.session_state.pop, args=(STOPPED_KEY, None))
        return None
    loader = Loader(key)
    try:
        splits = read(loader)
    except DatasetUnavailable as err:  # a limit, LoadStopped, FolderRefused: one line each
        loader.done()
        st.error(markdown_safe(str(err)))
        return None
    loader.done()
    return splits


# A load reports through `_progress` and `_should_stop`, left out of the cache key by their underscore.


@st.cache_resource(show_spinner=False, max_entries=4)
def zip_splits(
    data: bytes,
    name: str,
    limits: Limits,
    side: int | None = None,
    channels: int | None = None,
    _progress: Progress | None = None,
    _should_stop: Callable[[], bool] | None = None,
) -> Splits:
    return load_zip(
        data, name, limits=limits, progress=_progress, should_stop=_should_stop, side=side, channels=channels
    )


@st.cache_resource(show_spinner=False, max_entries=4, ttl=300)
def folder_splits(
    path: str,
    limits: Limits,
    side: int | None = None,
    channels: int | None = None,
    title: str | None = None,
    _progress: Progress | None = None,
    _should_stop: Callable[[], bool] | None = None,
) -> Splits:
    """Cached a few minutes only: the person may add images to the folder and try again."""
    return load_folder(
        Path(path),
        limits=limits,
        progress=_progress,
        should_stop=_should_stop,
        side=side,
        channels=channels,
        title=title,
    )
