"""Neighbours in latent space, and how far a 2-D map keeps them (a per-point trust figure).

A map squeezes 20-32 dimensions into two: points close on the map may be far apart in the code and the
other way round. `trust` says, point by point, how much of its latent neighbourhood the map kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_K = 10  # neighbours shown for a clicked point and counted by `trust`


@dataclass(frozen=True)
class Neighbours:
    """The k nearest rows of the codes, nearest first, with their Euclidean distances."""

    index: np.ndarray  # (k,) int rows of the codes
    distance: np.ndarray  # (k,) float32


def nearest(codes: np.ndarray, query: int | np.ndarray, k: int = DEFAULT_K) -> Neighbours:
    """The k codes nearest to row `query` of `codes` (itself left out) or to a code (D,) from elsewhere
    (an upload, a drawing, a point of the map).

    One query is a single NumPy pass with argpartition, which beats building scikit-learn's NearestNeighbors
    index for every click (bench/explore_speed.py measures both).
    """
    codes = np.asarray(codes, dtype=np.float32)
    n, d = codes.shape
    own = isinstance(query, (int, np.integer))
    if own and not 0 <= query < n:
        raise ValueError(f"row {query} is not one of the {n:,} codes")
    point = codes[query] if own else np.asarray(query, dtype=np.float32)
    if point.shape != (d,):
        raise ValueError(f"a query code must be {d}-d like the codes, got shape {point.shape}")
    available = n - own
    if not 1 <= k <= available:
        raise ValueError(f"k must be from 1 to {available:,} here, not {k}")
    squared = ((codes - point) ** 2).sum(1)
    if own:
        squared[query] = np.inf
    candidates = np.argpartition(squared, k - 1)[:k]
    order = candidates[np.argsort(squared[candidates], kind="stable")]
    return Neighbours(order, np.sqrt(squared[order]).astype(np.float32))


def neighbour_table(points: np.ndarray, k: int) -> np.ndarray:
    """(N, k): each row's k nearest other rows, by scikit-learn's exact search (brute force or a tree, its choice)."""
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k).fit(points).kneighbors(return_distance=False)  # X=None: self left out


def trust(codes: np.ndarray, map_xy: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """Per point, the fraction of its k nearest neighbours in latent space that are also among its k
    nearest on the 2-D map: 1 where the map kept its neighbourhood, near k / N where it scattered it.

    `codes` (N, D) and `map_xy` (N, 2) are the same points in the same order (for a t-SNE map of a
    subset: the codes of its `index`). The map can be coloured by the result.
    """
    codes, map_xy = np.asarray(codes, np.float32), np.asarray(map_xy, np.float32)
    if map_xy.ndim != 2 or codes.ndim != 2 or len(codes) != len(map_xy):
        raise ValueError(
            f"codes and map positions must be one row per point, got shapes {codes.shape} and {map_xy.shape}"
        )
    if not 1 <= k < len(codes):
        raise ValueError(f"k must be from 1 to {len(codes) - 1:,} for {len(codes):,} points, not {k}")
    latent, mapped = neighbour_table(codes, k), neighbour_table(map_xy, k)
    shared = (latent[:, :, None] == mapped[:, None, :]).any(2).sum(1)
    return (shared / k).astype(np.float32)


def kept(codes: np.ndarray, map_xy: np.ndarray, row: int, k: int = DEFAULT_K) -> int:
    """How many of row `row`'s k nearest codes are also among its k nearest points on the map: `trust` for one point."""
    return len(set(nearest(codes, row, k).index) & set(nearest(map_xy, row, k).index))
