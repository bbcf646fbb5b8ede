"""Cached results of the Directions and Sample pages (#15): directions, their walks, mixtures, sample quality.

Beside cached.py (which holds what every page shares) and keyed the same way: arguments start with
(path, digest, dataset, split) = Context.key. torch and scikit-learn are imported on first use only.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from aelab.data.dataset import sample_indices
from aelab.explore import directions as latent_directions
from aelab.explore import encoding, priors
from aelab.images import render
from aelab.ui import text
from aelab.ui.cached import codes, labels, load_model, pictures, prior

GIF_SCALE = 6  # enlargement of a walk's GIF frames


@st.cache_data(show_spinner="Finding directions…", max_entries=32)
def directions(path: str, digest: str, dataset: str, split: str, kind: str, k: int,
               sides: tuple = (0, 1)) -> latent_directions.Directions:
    """The k strongest directions of `kind` (text.DIRECTION_KINDS); an attribute vector is one, from side A
    to side B of `sides`: two class numbers, or two tuples of dataset rows (map selections). Raises
    ValueError where the model or the sides have none."""

    mu = codes(path, digest, dataset, split).mu
    if kind == text.PCA:
        return latent_directions.principal_directions(mu, k)
    if kind == text.SEFA:
        return latent_directions.sefa_directions(load_model(path, digest).model, k, mu)
    if kind == text.SELECTIONS:
        rows_a, rows_b = (np.array(side, dtype=np.int64) for side in sides)
        return latent_directions.attribute_vector(mu[rows_a], mu[rows_b], "selection A to B").as_directions()
    label, names = labels(dataset, split)
    return latent_directions.between_classes(mu, label, *sides, names).as_directions()


@st.cache_data(show_spinner="Drawing the walk grid…", max_entries=16)
def walk_grid_png(path: str, digest: str, dataset: str, split: str, kind: str, k: int, sides: tuple,
                  base: bytes, steps: int, scale: int) -> bytes:
    """The walk grid (a labelled row per direction, the step t under each picture) around `base` (float32 bytes)."""

    chosen = directions(path, digest, dataset, split, kind, k, sides)
    grid = latent_directions.walk_grid(load_model(path, digest).model, np.frombuffer(base, np.float32), chosen, steps, scale)
    return render.to_png(grid)


@st.cache_data(show_spinner="Making the GIF…", max_entries=16)
def walk_gif(path: str, digest: str, dataset: str, split: str, kind: str, k: int, sides: tuple,
             base: bytes, row: int, steps: int) -> bytes:
    """Direction `row`'s walk around `base` as a looping GIF, over the grid's span (directions.walk_values)."""

    chosen = directions(path, digest, dataset, split, kind, k, sides)
    std = 1.0 if chosen.std is None else float(chosen.std[row])
    frames = latent_directions.walk(load_model(path, digest).model, np.frombuffer(base, np.float32), chosen.vectors[row],
                        latent_directions.walk_values(std, steps))
    return latent_directions.walk_gif(frames, GIF_SCALE)


@st.cache_data(show_spinner="Fitting a Gaussian mixture to the codes…", max_entries=16)
def mixture(path: str, digest: str, dataset: str, split: str, n_components: int) -> priors.Mixture:

    return priors.fit_mixture(codes(path, digest, dataset, split), n_components)


def sample_codes(path: str, digest: str, dataset: str, split: str, components: int | None, n: int,
                 temperature: float, seed: int) -> np.ndarray:
    """n codes from the model's prior (components None, as latent.sample draws them) or a fitted mixture."""
    if components is None:
        return priors.sample(prior(path, digest, dataset, split), n, temperature, seed)

    return priors.sample_mixture(mixture(path, digest, dataset, split, components), n, temperature, seed)


@st.cache_data(show_spinner="Measuring density and coverage…", max_entries=32)
def quality(path: str, digest: str, dataset: str, split: str, components: int | None, temperature: float,
            seed: int, n: int) -> priors.Quality:
    """Density and coverage of n decoded samples against as many test images (a fixed draw of them)."""

    pixels = pictures(dataset, split)
    real = pixels[sample_indices(len(pixels), n, seed=0)]
    z = sample_codes(path, digest, dataset, split, components, n, temperature, seed)
    return priors.density_coverage(real, encoding.decode(load_model(path, digest).model, z))
