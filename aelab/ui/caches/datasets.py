"""A dataset split's images, its pictures and its labels: loaded once, shared by every session. Labels
are read without the images, and without importing torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from aelab.data.dataset import DatasetUnavailable, ImageData
from aelab.data.registry import dataset_title, load_dataset, load_labels
from aelab.images import render
from aelab.ui.caches.key import Shape

if TYPE_CHECKING:
    import torch


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def load_data(name: str, split: str, shape: Shape | None = None) -> ImageData:
    """A split, at `shape` (C, H, W) when given: padded or resized to it as models of that shape are trained on it
    (registry.fitted), its note saying so."""
    channels, side = (None, None) if shape is None else (shape[0], shape[1])
    return load_dataset(name, split, download=False, cached=True, side=side, channels=channels)


def images(name: str, split: str, shape: Shape | None = None) -> torch.Tensor:
    """A split's (N, C, H, W) images, which the pages index and run models on: a streamed dataset (CelebA, never
    among available_datasets) has none in memory, and is refused with one line."""
    import torch

    found = load_data(name, split, shape).images
    if not isinstance(found, torch.Tensor):
        raise DatasetUnavailable(
            f"{dataset_title(name)} is streamed from its files, and the app's pages show "
            "datasets held in memory: train on it with the command line."
        )
    return found


@st.cache_resource(show_spinner=False, max_entries=4)
def pictures(name: str, split: str, shape: Shape | None = None) -> np.ndarray:
    """A split's images as pictures ((N, H, W) or (N, H, W, 3)), converted once: for colour data the
    conversion is a copy of the whole split, which no rerun should make again. Shared, never mutated."""
    return render.to_pictures(images(name, split, shape))


@st.cache_data(show_spinner=False, max_entries=4)
def labels(name: str, split: str) -> tuple[np.ndarray, list[str]]:
    """A split's labels and class names: for MNIST and its kin from the disk cache, without reading its pixels."""
    return load_labels(name, split)
