"""Progress that says what it measured on this machine: the time so far, and the time left at the pace measured
so far, never a fixed guess. Free of Streamlit, so unit tests cover it; pages put its text on their bars."""

from __future__ import annotations

import time
from collections.abc import Callable

MIN_FRACTION = 0.02  # below this share done, the pace measured so far says too little to estimate what is left


def duration(seconds: float) -> str:
    """'8 s', '2 min 05 s'."""
    whole = max(0, round(seconds))
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


class Clock:
    """Started when the work starts; `text` says how far it is, in time measured here."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now, self.start = now, now()

    def elapsed(self) -> float:
        return self.now() - self.start

    def text(self, what: str, fraction: float) -> str:
        """E.g. 'Computing t-SNE… 40% · 12 s so far, about 18 s left at this pace'."""
        elapsed = self.elapsed()
        said = f"{what}… {100 * fraction:.0f}% · {duration(elapsed)} so far"
        if MIN_FRACTION <= fraction < 1:
            said += f", about {duration(elapsed * (1 - fraction) / fraction)} left at this pace"
        return said


def projection_text(title: str, fraction: float, clock: Clock, compiling: bool) -> str:
    """A t-SNE or UMAP map's progress: before its optimisation starts (fraction 0), what it is doing then and
    for how long so far, UMAP's first use in a process being mostly the compiling of its code."""
    if fraction > 0:
        return clock.text(f"Computing {title}", fraction)
    first = "Compiling UMAP (first use in this process), then finding neighbours" if compiling else "Finding neighbours"
    return f"{first}… {duration(clock.elapsed())} so far"
