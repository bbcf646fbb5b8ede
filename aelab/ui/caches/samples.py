"""Generation (the Sample and Compare pages): priors, fitted mixtures, sampled codes, and the yardsticks
their quality is measured against."""

from __future__ import annotations

import numpy as np
import streamlit as st

from aelab.data.dataset import sample_indices
from aelab.explore import encoding, priors
from aelab.ui.caches.codes import codes
from aelab.ui.caches.datasets import pictures
from aelab.ui.caches.key import ModelData
from aelab.ui.caches.models import model


@st.cache_data(show_spinner=False, max_entries=8)
def prior(key: ModelData) -> priors.Prior:
    latent_model = model(key)
    return priors.prior_for(latent_model, None if latent_model.is_variational else codes(key))


@st.cache_data(show_spinner=False, max_entries=16)
def why_vaes(key: ModelData, standard: bool, n: int, temperature: float, seed: int) -> np.ndarray:
    """n decoded samples: from N(0, I) when `standard`, else from the model's prior (an autoencoder's: the
    Gaussian fitted to its codes), for the Sample page's three grids side by side."""
    latent_model = model(key)
    source = priors.standard_normal(latent_model.latent_dim) if standard else prior(key)
    return encoding.decode(latent_model, priors.sample(source, n, temperature, seed))


@st.cache_data(show_spinner="Measuring coverage…", max_entries=16)
def why_vaes_coverage(key: ModelData, standard: bool, temperature: float, seed: int, n: int) -> float:
    """Coverage (priors.density_coverage) of n of `why_vaes`' samples against as many test images (a fixed draw);
    from the model's prior these are `quality`'s samples, so its figure, once measured, serves."""
    if not standard:
        return quality(key, None, temperature, seed, n).coverage
    pixels = pictures(*key.data)
    real = pixels[sample_indices(len(pixels), n, seed=0)]
    return priors.density_coverage(real, why_vaes(key, standard, n, temperature, seed)).coverage


@st.cache_data(show_spinner="Fitting a Gaussian mixture to the codes…", max_entries=16)
def mixture(key: ModelData, n_components: int) -> priors.Mixture:
    return priors.fit_mixture(codes(key), n_components)


def sample_codes(key: ModelData, components: int | None, n: int, temperature: float, seed: int) -> np.ndarray:
    """n codes from the model's prior (components None, as latent.sample draws them) or a fitted mixture."""
    if components is None:
        return priors.sample(prior(key), n, temperature, seed)
    return priors.sample_mixture(mixture(key, components), n, temperature, seed)


@st.cache_data(show_spinner="Measuring density and coverage…", max_entries=32)
def quality(key: ModelData, components: int | None, temperature: float, seed: int, n: int) -> priors.Quality:
    """Density and coverage of n decoded samples against as many test images (a fixed draw of them)."""
    pixels = pictures(*key.data)
    real = pixels[sample_indices(len(pixels), n, seed=0)]
    z = sample_codes(key, components, n, temperature, seed)
    return priors.density_coverage(real, encoding.decode(model(key), z))


@st.cache_data(show_spinner=False, max_entries=4)
def reference_distance(key: ModelData, n: int = 500) -> float:
    """How far a real test image is from its nearest other test image: the yardstick for samples."""
    pixels = pictures(*key.data)
    rows = sample_indices(len(pixels), n, seed=0)
    return float(priors.nearest_distances(pixels[rows], pixels, skip=rows).mean())


@st.cache_data(show_spinner=False, max_entries=4)
def reference_diversity(key: ModelData, n: int = 500) -> float:
    """How different real test images are from each other: the yardstick for the samples' diversity."""
    pixels = pictures(*key.data)
    return priors.diversity(pixels[sample_indices(len(pixels), n, seed=0)])
