"""What every bench script shares: the checkout on the import path, a private disk cache, a stopwatch."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AELAB_CACHE_DIR", tempfile.mkdtemp(prefix="aelab-bench-"))  # before aelab is imported
T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """What `fn` returns and the seconds it took."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start
