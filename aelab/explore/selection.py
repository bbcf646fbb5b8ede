"""A box or lasso selection on the latent map: what its images have in common, and its exports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aelab.data.dataset import UNLABELLED, sample_indices
from aelab.images.render import make_grid

GALLERY = 12  # images a selection shows (and exports as PNG), beside their reconstructions
AVERAGED = 2_000  # images at most behind a selection's mean image: a stream's are read from their files
GALLERY_COLUMNS = 3  # the map's panel holds 3 digits a row at twice their size


@dataclass(frozen=True)
class Summary:
    rows: np.ndarray  # the selected dataset rows, ascending
    counts: dict[str, int]  # images per label, most first
    mean_image: np.ndarray  # the pixel mean of the selected images
    mean_code: np.ndarray  # the mean of their codes: decoded, the selection's typical member


def selected_rows(rows) -> np.ndarray:
    """A selection's dataset rows, each once and ascending; ValueError if empty."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if not len(rows):
        raise ValueError("The selection is empty: draw a box or a lasso around some points.")
    return rows


def summarise(
    rows: np.ndarray, pictures: np.ndarray, labels: np.ndarray, classes: list[str], mu: np.ndarray
) -> Summary:
    """The selection `rows` (from `selected_rows`) of a dataset: `pictures` are those of up to AVERAGED of them
    (`spread_rows`; (n, H, W) or (n, H, W, 3), so a page reads only those), `labels` and `mu` the whole dataset's."""
    names = np.array([classes[label] if label != UNLABELLED else "unlabelled" for label in labels[rows]])
    found, counts = np.unique(names, return_counts=True)
    order = np.lexsort((found, -counts))  # most first, ties by name
    return Summary(rows, {str(found[i]): int(counts[i]) for i in order}, pictures.mean(0), mu[rows].mean(0))


def spread_rows(rows: np.ndarray, most: int) -> np.ndarray:
    """Up to `most` of the selected rows, spread evenly over it (the same ones each time): those its gallery
    shows (GALLERY), or those its mean image averages (AVERAGED)."""
    rows = np.asarray(rows)
    return rows[sample_indices(len(rows), most, seed=0)]


def gallery(originals: np.ndarray, reconstructions: np.ndarray, ncol: int = GALLERY_COLUMNS) -> np.ndarray:
    """Rows of `ncol` originals, each row followed by their reconstructions, as one picture."""
    if len(originals) != len(reconstructions) or not len(originals):
        raise ValueError("A gallery needs as many reconstructions as originals, and at least one")
    rows = []
    for start in range(0, len(originals), ncol):
        part = slice(start, start + ncol)
        blank = [np.zeros_like(originals[0])] * (ncol - len(originals[part]))
        rows.extend([*originals[part], *blank, *reconstructions[part], *blank])
    return make_grid(rows, ncol=ncol)
