"""Walks through the latent space: traversal of one dimension at a time, and paths between two codes."""

from __future__ import annotations

import numpy as np

from aelab.explore.encoding import decode
from aelab.models.autoencoders import LatentModel


def traversal_values(low: np.ndarray, high: np.ndarray, dims: list[int], steps: int) -> np.ndarray:
    """(len(dims), steps): the values each of `dims` takes across a traversal grid's row."""
    return np.stack([np.linspace(low[d], high[d], steps) for d in dims]).astype(np.float32)


def traversal_grid(
    model: LatentModel, base: np.ndarray, dims: list[int], low: np.ndarray, high: np.ndarray, steps: int
) -> np.ndarray:
    """Decode `base` with each of `dims` swept from low to high: len(dims) * steps pictures."""
    z = np.repeat(base[None, :], len(dims) * steps, axis=0).astype(np.float32)
    for row, (d, values) in enumerate(zip(dims, traversal_values(low, high, dims, steps))):
        z[row * steps : (row + 1) * steps, d] = values
    return decode(model, z)


# --- paths and samples -------------------------------------------------------------------


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """Codes from a to b inclusive; 'slerp' follows the great circle, which keeps the norm typical
    of a Gaussian prior instead of cutting through the low-density centre."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if method == "linear":
        return ((1 - t) * a + t * b).astype(np.float32)
    if method != "slerp":
        raise ValueError(f"method must be 'linear' or 'slerp', not {method!r}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(a / max(na, 1e-8), b / max(nb, 1e-8)), -1.0, 1.0))
    if omega < 1e-4:
        return interpolate(a, b, steps, "linear")
    path = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return path.astype(np.float32)


def step_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute pixel change from each frame to the next: a spike is where the path jumps."""
    return np.abs(np.diff(frames, axis=0)).reshape(len(frames) - 1, -1).mean(1)


def mean_frame_change(frames: np.ndarray) -> float:
    """Mean absolute pixel change between neighbouring frames: low means a smooth path."""
    return float(step_changes(frames).mean()) if len(frames) > 1 else 0.0
