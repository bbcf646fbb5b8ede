"""Walks through the latent space: traversal of one dimension at a time, and paths between two codes."""

from __future__ import annotations

import numpy as np

from aelab.explore.encoding import decode
from aelab.explore.priors import nearest_distances
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


def distances_from_data(frames: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Per frame, the Euclidean pixel distance to the nearest of the model's own reconstructions of the data.

    High means the frame looks like nothing the model draws for a real image: the path crossed empty space.
    Its own reconstructions, not the images, so that a blurry model is not counted as off the data for
    being blurry; a pixel change between neighbouring frames cannot tell this: a smooth fade through
    broken strokes changes little per step.
    """
    return nearest_distances(frames, reconstructions)
