"""Spatial codes (C, h, w) on Traverse: a slider per number is no use for hundreds of numbers, so Traverse walks
the principal directions of the dataset's codes (GANSpace's, directions.principal_directions) and draws the
current code as its channels, one small gray picture each, on one colour scale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aelab.explore.directions import Directions, picked, principal_directions

TOP_COMPONENTS = 8  # the principal directions Traverse gives a slider on a spatial code
CHANNEL_PX = 80  # about the on-screen side, in px, of a channel's picture enlarged from its h x w
RANGE_PERCENTILES = (1.0, 99.0)  # the colour scale spans the dataset's code values between these, at least


def spatial_shape(code_shape: Sequence[int]) -> tuple[int, int, int] | None:
    """(C, h, w) where a model's header records codes with spatial extent (h * w > 1), else None: a (C, 1, 1) code
    or a flat one is an ordinary vector, walked a dimension at a time."""
    if len(code_shape) != 3 or code_shape[1] * code_shape[2] <= 1:
        return None
    c, h, w = (int(n) for n in code_shape)
    return c, h, w


def principal_sliders(codes: np.ndarray, k: int = TOP_COMPONENTS) -> Directions:
    """The dataset's codes' first k principal directions (fewer where the codes have fewer, or spread along fewer),
    each with the codes' standard deviation along it: the unit of its slider."""
    n, d = np.shape(codes)
    found = principal_directions(codes, min(k, d, n - 1))
    assert found.std is not None  # principal directions always have the codes' spread
    keep = int((found.std > 1e-6 * max(float(found.std[0]), 1e-12)).sum())
    return picked(found, list(range(max(keep, 1))))


@dataclass(frozen=True)
class ColourRange:
    """The values the channels' black and white stand for: one scale for every channel."""

    low: float
    high: float

    def holding(self, code: np.ndarray) -> ColourRange:
        """This range widened to hold every value of `code`, so that no channel of it is clipped."""
        low, high = min(self.low, float(np.min(code))), max(self.high, float(np.max(code)))
        return ColourRange(low, max(high, low + 1e-6))


def colour_range(codes: np.ndarray) -> ColourRange:
    """The dataset's code values from the 1st to the 99th percentile: a few outliers do not wash out the rest."""
    low, high = np.percentile(np.asarray(codes, np.float64), RANGE_PERCENTILES)
    return ColourRange(float(low), max(float(high), float(low) + 1e-6))


def channel_pictures(code: np.ndarray, shape: tuple[int, int, int], scale: ColourRange) -> np.ndarray:
    """The flattened `code` as its channels (C, h, w), each value mapped to [0, 1] by `scale` (black: low)."""
    channels = np.asarray(code, np.float64).reshape(shape)
    return np.clip((channels - scale.low) / (scale.high - scale.low), 0, 1).astype(np.float32)


def channel_enlargement(shape: tuple[int, int, int]) -> int:
    """How many times to enlarge a channel's h x w picture so it is about CHANNEL_PX on its longer side."""
    return max(1, CHANNEL_PX // max(shape[1], shape[2]))
