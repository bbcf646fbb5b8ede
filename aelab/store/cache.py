"""The disk cache: NumPy arrays in .npz files (never pickled), keyed by what produced them.

Codes, projections and decoded datasets live here so that a restarted app, or a second
session, reads them back in milliseconds instead of recomputing them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Collection
from pathlib import Path

import numpy as np

from aelab.settings import current
from aelab.store.files import atomic_write


def cache_dir() -> Path:
    """The settings' cache folder (aelab.settings: $AELAB_CACHE_DIR, else ~/.cache/aelab)."""
    return current().cache_dir


def cache_key(*parts: object) -> str:
    """A short stable key from anything JSON can render (checkpoint digest, dataset, params)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _cache_path(kind: str, key: str) -> Path:
    return cache_dir() / f"{kind}-{key}.npz"


def load_arrays(kind: str, key: str, names: Collection[str] | None = None) -> dict[str, np.ndarray] | None:
    """Arrays stored under (kind, key), only those `names` when given (the others stay unread on disk), or
    None when absent or damaged (then removed, unless another process has put a new file in its place
    meanwhile)."""
    path = _cache_path(kind, key)
    try:
        file = path.open("rb")
    except OSError:
        return None
    with file:
        try:
            with np.load(file, allow_pickle=False) as arrays:
                return {name: arrays[name] for name in (arrays.files if names is None else names)}
        except (OSError, ValueError, EOFError, KeyError):  # a damaged cache entry is recomputed, never trusted
            if _same_file(path, file):
                path.unlink(missing_ok=True)
            return None


def _same_file(path: Path, file) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(file.fileno()).st_ino
    except OSError:
        return False


def save_arrays(kind: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Store arrays atomically: concurrent sessions never read a half-written file."""
    atomic_write(_cache_path(kind, key), _npz(arrays))


def store_once(kind: str, key: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Store arrays under (kind, key) unless another process stored some first; the stored ones either way.

    Two app processes computing the same projection at once (t-SNE's threads can differ in the
    last digits) thus both go on with the same one: the first stored, and the one every later
    start reads.
    """
    for _ in range(2):  # a damaged file in the way is removed by load_arrays, then ours goes in
        if atomic_write(_cache_path(kind, key), _npz(arrays), replace=False):
            return arrays
        stored = load_arrays(kind, key)
        if stored is not None:
            return stored
    return arrays


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)  # read back without pickles (load_arrays), so none written
    return buffer.getvalue()
