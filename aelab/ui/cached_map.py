"""Cached results of the Latent map page: its colourings and its decoded plane.

Beside cached.py (what every page shares) and keyed the same way: arguments start with
(path, digest, dataset, split) = Context.key.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from aelab.explore import anomaly, encoding, neighbours, projections
from aelab.explore.metrics import disentanglement
from aelab.ui import text
from aelab.ui.cached import codes, errors, load_data, load_model, pca_map


@st.cache_data(show_spinner="Scoring the test images…", max_entries=8)
def colour_values(path: str, digest: str, dataset: str, split: str, by: str) -> np.ndarray:
    """One number per test image for the latent map's colour (text.COLOUR_BY, label aside)."""
    if by.startswith(text.FACTOR):
        data = load_data(dataset, split)
        return data.factors[:, data.factor_names.index(by.removeprefix(text.FACTOR))].astype(np.float32)
    if by == "kl":
        return encoding.kl_per_dim(codes(path, digest, dataset, split)).sum(1)
    if by == "recon":
        return errors(path, digest, dataset, split)

    return anomaly.anomaly_scores(load_model(path, digest).model, load_data(dataset, split).images, "mse_per_ink")


@st.cache_data(show_spinner="Counting the neighbours the map kept…", max_entries=8)
def map_trust(path: str, digest: str, dataset: str, split: str, projection_key: str,
              _projection: projections.Projection) -> np.ndarray:
    """Per point of a map (named by `projection_key`), the share of its latent neighbours it keeps there."""
    return neighbours.trust(codes(path, digest, dataset, split).mu[_projection.index], _projection.coords)


@st.cache_data(show_spinner="Decoding the map's plane…", max_entries=8)
def decoded_plane(path: str, digest: str, dataset: str, split: str) -> tuple[np.ndarray, tuple[float, ...]]:
    return projections.decoded_plane(load_model(path, digest).model, pca_map(path, digest, dataset, split))


@st.cache_data(show_spinner="Measuring which factor each dimension follows…", max_entries=8)
def dimension_factors(path: str, digest: str, dataset: str, split: str) -> list[tuple[str, float]] | None:
    """Per code dimension, the known generating factor it follows and its share (metrics.disentanglement);
    None where the data has no factors."""

    data = load_data(dataset, split)
    if data.factors is None:
        return None
    found = disentanglement(codes(path, digest, dataset, split).mu, data.factors, data.factor_names)
    return [(name, share) for name, share in found["dimension_factors"]]

