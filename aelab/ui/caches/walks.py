"""Pictures along lines through latent space (Traverse and Directions): the traversal grid, the
directions themselves, their walk grids and GIFs."""

from __future__ import annotations

import numpy as np
import streamlit as st

from aelab.explore import directions as latent_directions
from aelab.explore import spatial, walks
from aelab.images import render
from aelab.ui import text
from aelab.ui.caches.codes import codes, dim_stats
from aelab.ui.caches.datasets import labels
from aelab.ui.caches.key import ModelData
from aelab.ui.caches.models import model

GIF_SCALE = 6  # enlargement of a walk's GIF frames


@st.cache_data(show_spinner=False, max_entries=16)
def traversal_png(key: ModelData, base: bytes, dims: tuple[int, ...], steps: int, scale: int) -> bytes:
    """The traversal grid of `dims` around the code `base` (float32 bytes) as a PNG, made once per choice:
    a row per dimension, labelled with it, and under each picture the value that dimension takes there."""
    stats = dim_stats(key)
    code = np.frombuffer(base, dtype=np.float32)
    grid = walks.traversal_grid(model(key), code, list(dims), stats.low, stats.high, steps)
    values = walks.traversal_values(stats.low, stats.high, list(dims), steps)
    labelled = render.labelled_grid(
        grid.reshape(len(dims), steps, *grid.shape[1:]),
        [f"dim {d}" for d in dims],
        [[f"{v:.2f}" for v in row] for row in values],
        scale,
    )
    return render.to_png(labelled)


@st.cache_data(show_spinner="Finding directions…", max_entries=32)
def directions(key: ModelData, kind: str, k: int, sides: tuple = (0, 1)) -> latent_directions.Directions:
    """The k strongest directions of `kind` (text.DIRECTION_KINDS); an attribute vector is one, from side A
    to side B of `sides`: two class numbers, or two tuples of dataset rows (map selections). Raises
    ValueError where the model or the sides have none."""
    mu = codes(key).mu
    if kind == text.PCA:
        return latent_directions.principal_directions(mu, k)
    if kind == text.SEFA:
        return latent_directions.sefa_directions(model(key), k, mu)
    if kind == text.SELECTIONS:
        rows_a, rows_b = (np.array(side, dtype=np.int64) for side in sides)
        return latent_directions.attribute_vector(mu[rows_a], mu[rows_b], "selection A to B").as_directions()
    label, names = labels(*key.data)
    a, b = sides
    return latent_directions.between_classes(mu, label, a, b, names).as_directions()


@st.cache_data(show_spinner="Drawing the walk grid…", max_entries=16)
def walk_grid_png(key: ModelData, kind: str, k: int, sides: tuple, base: bytes, steps: int, scale: int) -> bytes:
    """The walk grid (a labelled row per direction, the step t under each picture) around `base` (float32 bytes)."""
    chosen = directions(key, kind, k, sides)
    grid = latent_directions.walk_grid(model(key), np.frombuffer(base, np.float32), chosen, steps, scale)
    return render.to_png(grid)


@st.cache_data(show_spinner="Making the GIF…", max_entries=16)
def walk_gif(key: ModelData, kind: str, k: int, sides: tuple, base: bytes, row: int, steps: int) -> bytes:
    """Direction `row`'s walk around `base` as a looping GIF, over the grid's span (directions.walk_values)."""
    chosen = directions(key, kind, k, sides)
    std = 1.0 if chosen.std is None else float(chosen.std[row])
    frames = latent_directions.walk(
        model(key), np.frombuffer(base, np.float32), chosen.vectors[row], latent_directions.walk_values(std, steps)
    )
    return latent_directions.walk_gif(frames, GIF_SCALE)


@st.cache_data(show_spinner="Finding the principal directions…", max_entries=8)
def principal_sliders(key: ModelData) -> latent_directions.Directions:
    """Traverse's sliders on a spatial code: the dataset's codes' principal directions (spatial.principal_sliders)."""
    return spatial.principal_sliders(codes(key).mu)


@st.cache_data(show_spinner=False, max_entries=8)
def code_colours(key: ModelData) -> spatial.ColourRange:
    """The colour scale of a spatial code's channels on this dataset (spatial.colour_range)."""
    return spatial.colour_range(codes(key).mu)


@st.cache_data(show_spinner="Drawing the traversal grid…", max_entries=16)
def principal_grid_png(key: ModelData, base: bytes, rows: tuple[int, ...], steps: int, scale: int) -> bytes:
    """The walk grid of the principal directions `rows` (Traverse's sliders on a spatial code) around `base`."""
    chosen = latent_directions.picked(principal_sliders(key), rows)
    return render.to_png(latent_directions.walk_grid(model(key), np.frombuffer(base, np.float32), chosen, steps, scale))
