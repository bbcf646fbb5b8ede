"""How well a model reproduces its data: reconstruction errors and reconstructions, anomaly scores, denoising PSNR,
one-class results."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from aelab.explore import anomaly, encoding
from aelab.images import render
from aelab.models import noise
from aelab.training import one_class
from aelab.ui.caches.datasets import images, load_data
from aelab.ui.caches.key import ModelData
from aelab.ui.caches.models import model

PSNR_IMAGES = 500  # test images behind the Denoise page's mean PSNR


@st.cache_data(show_spinner="Measuring reconstruction errors…", max_entries=8)
def errors(key: ModelData) -> np.ndarray:
    return anomaly.reconstruction_errors(model(key), images(*key.data))


@st.cache_data(show_spinner="Scoring the test images…", max_entries=8)
def reference(key: ModelData) -> anomaly.Typicality:
    """The anomaly score's reference, the split's images (anomaly.fit_typicality): scores are ranked among theirs."""
    return anomaly.fit_typicality(model(key), images(*key.data))


def typicality(key: ModelData, pictures: np.ndarray) -> np.ndarray:
    """Anomaly scores (anomaly.TYPICALITY) of pictures of the model's shape (uploads, a test image)."""
    x = render.to_tensor(pictures, load_data(*key.data).shape)
    return anomaly.typicality_scores(model(key), x, reference(key))


def reference_scores(key: ModelData) -> np.ndarray:
    """Every test image's anomaly score (anomaly.TYPICALITY): the reference a score is ranked among."""
    return reference(key).reference_scores


@st.cache_data(show_spinner="Reconstructing the test images…", max_entries=4)
def reconstructions(key: ModelData) -> np.ndarray:
    """The model's reconstructions of every image of the split, as pictures: what it draws for real data."""
    return encoding.reconstruct(model(key), images(*key.data))


@st.cache_data(show_spinner="Measuring PSNR on test images…", max_entries=64)
def mean_psnr(key: ModelData, kind: str, level: float, seed: int) -> tuple[float, float]:
    """Mean PSNR (dB) of the noisy input and of the model's output over the first test images."""
    clean = images(*key.data)[:PSNR_IMAGES]
    noisy = noise.add_noise(clean, kind, level, torch.Generator().manual_seed(seed))
    output = render.to_tensor(encoding.reconstruct(model(key), noisy), load_data(*key.data).shape)
    return float(noise.psnr(clean, noisy).mean()), float(noise.psnr(clean, output).mean())


@st.cache_resource(show_spinner=False)
def experiment_results() -> dict[tuple, one_class.OneClassResult]:
    """One-class results by settings, shared by sessions: the same settings (and seed) give the same run."""
    return {}
