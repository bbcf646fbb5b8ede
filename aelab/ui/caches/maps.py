"""The latent map: its projections (PCA at once, t-SNE and UMAP on request, all kept on disk), placing
new codes on them, their colourings, the decoded plane and the codes' CSV."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import streamlit as st

from aelab.explore import encoding, neighbours, projections
from aelab.store import cache
from aelab.ui import text
from aelab.ui.caches.codes import codes
from aelab.ui.caches.datasets import disk_name, images, load_data
from aelab.ui.caches.key import ModelData
from aelab.ui.caches.models import model

# Maps computed once, with progress, then kept on disk: method -> the name of its one setting in Projection.params.
COMPUTED_MAPS = {"tsne": "perplexity", "umap": "n_neighbors"}


@st.cache_data(show_spinner="Computing the PCA map…", max_entries=8)
def pca(key: ModelData) -> projections.Projection:
    disk_key = cache.cache_key(key.digest, disk_name(key), key.split, "pca")
    return projections.cached_projection(disk_key, "pca", lambda: projections.pca(codes(key).mu))


@st.cache_data(show_spinner=False, max_entries=8)
def _stored_projection(disk_key: str, method: str) -> projections.Projection | None:
    return projections.load_projection(disk_key, method)


def _disk_key(key: ModelData, method: str, n_points: int, setting: float) -> str:
    return cache.cache_key(key.digest, disk_name(key), key.split, method, n_points, float(setting))


def stored(key: ModelData, method: str, n_points: int, setting: float) -> projections.Projection | None:
    """A t-SNE or UMAP map if it was computed before (memory or disk), else None: never computes."""
    return _stored_projection(_disk_key(key, method, n_points, setting), method)


def computed(
    key: ModelData, method: str, n_points: int, setting: float, progress: Callable[[float], None] | None = None
) -> projections.Projection:
    """A t-SNE or UMAP map: from the caches when computed before, else computed once with progress."""
    found = stored(key, method, n_points, setting)
    if found is not None:
        return found
    mu = codes(key).mu
    setting = int(setting) if method == "umap" else float(setting)  # UMAP's setting counts neighbours

    def compute() -> projections.Projection:
        if method == "umap":
            return projections.umap(mu, n_points, int(setting), 0, progress)
        return projections.tsne(mu, n_points, setting, 0, progress)

    projection = projections.cached_projection(_disk_key(key, method, n_points, setting), method, compute)
    _stored_projection.clear()
    return projection


@st.cache_resource(show_spinner="Preparing to place new points on the map…", max_entries=4)
def placer(key: ModelData, method: str, n_points: int, setting: float) -> Callable[[np.ndarray], np.ndarray]:
    """A function placing new codes (uploads, a path, a drawing) on a computed map: openTSNE's own transform
    for t-SNE, the weighted mean of the nearest mapped codes' places for UMAP."""
    projection = computed(key, method, n_points, setting)
    mu = codes(key).mu
    if method == "tsne":
        return projections.tsne_placer(projection, mu)
    return partial(projections.place_by_neighbours, projection, mu)


@st.cache_data(show_spinner="Scoring the test images…", max_entries=8)
def colour_values(key: ModelData, by: str) -> np.ndarray:
    """One number per test image for the latent map's colour (text.COLOUR_BY, label aside)."""
    from aelab.explore import anomaly  # scores run the model: their modules import torch
    from aelab.ui.caches.scores import errors

    if by.startswith(text.FACTOR):
        data = load_data(*key.data)
        if data.factors is None:
            raise ValueError(f"{key.dataset} has no generating factors to colour by")
        return data.factors[:, data.factor_names.index(by.removeprefix(text.FACTOR))].astype(np.float32)
    if by == "kl":
        return encoding.kl_per_dim(codes(key)).sum(1)
    if by == "recon":
        return errors(key)
    return anomaly.anomaly_scores(model(key), images(*key.data), "mse_per_ink")


@st.cache_data(show_spinner="Counting the neighbours the map kept…", max_entries=8)
def trust(key: ModelData, projection_key: str, _projection: projections.Projection) -> np.ndarray:
    """Per point of a map (named by `projection_key`), the share of its latent neighbours it keeps there."""
    return neighbours.trust(codes(key).mu[_projection.index], _projection.coords)


@st.cache_data(show_spinner="Decoding the map's plane…", max_entries=8)
def decoded_plane(key: ModelData) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    return projections.decoded_plane(model(key), pca(key))


@st.cache_data(show_spinner="Preparing the CSV…", max_entries=4)
def codes_csv(key: ModelData) -> bytes:
    """Every image's code and its place on the PCA map."""
    return projections.codes_csv(codes(key).mu, load_data(*key.data).labels.numpy(), pca(key))
