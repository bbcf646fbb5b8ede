"""The disk cache: NumPy arrays in .npz files (never pickled), keyed by what produced them.

Codes, projections and decoded datasets live here so that a restarted app, or a second
session, reads them back in milliseconds instead of recomputing them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from aelab.files import atomic_write

CACHE_DIR_ENV = "AELAB_CACHE_DIR"


def cache_dir() -> Path:
    """$AELAB_CACHE_DIR, else ~/.cache/aelab."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "aelab").expanduser()


def cache_key(*parts: object) -> str:
    """A short stable key from anything JSON can render (checkpoint digest, dataset, params)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _cache_path(kind: str, key: str) -> Path:
    return cache_dir() / f"{kind}-{key}.npz"


def load_arrays(kind: str, key: str) -> dict[str, np.ndarray] | None:
    """Arrays stored under (kind, key), or None when absent or damaged (then removed)."""
    path = _cache_path(kind, key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return dict(arrays)
    except (OSError, ValueError, EOFError):
        path.unlink(missing_ok=True)  # a damaged cache entry is recomputed, never trusted
        return None


def save_arrays(kind: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Store arrays atomically: concurrent sessions never read a half-written file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(_cache_path(kind, key), buffer.getvalue())
