"""A dataset split's images, its pictures and its labels: loaded once, shared by every session. Labels
are read without the images, and without importing torch."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from aelab import serving
from aelab.data.dataset import DatasetUnavailable, ImageData
from aelab.data.registry import DECODED, dataset_title, fitted, load_dataset, load_labels
from aelab.data.sources import held, is_folder
from aelab.images import render
from aelab.ui.caches.key import ModelData, Shape

if TYPE_CHECKING:
    import torch


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def load_data(name: str, split: str, shape: Shape | None = None) -> ImageData:
    """A split, at `shape` (C, H, W) when given: a known dataset padded or resized to it as models of that shape
    are trained on it (registry.fitted), its note saying so; a folder's or zip's files made pictures of it (None:
    MNIST's digit recipe). A streamed split (CelebA, a large folder) is held in part (sources.held). A served
    app reads a folder only inside its allowed ones, within its limits, whatever asked for it."""
    if not is_folder(name):  # held at its own shape, then fitted: a stream is read at its own shape only
        data = held(load_dataset(name, split, download=False, cached=True))
        if shape is None:
            return data
        fit = fitted(data, shape[0], shape[1])  # what it did is the page's line (context.require_context)
        return dataclasses.replace(fit, note=data.note) if data.note else fit  # a held part's note stays
    channels, side = (None, None) if shape is None else (shape[0], shape[1])
    rules = serving.rules(st.get_option("server.address"))
    if rules.served:
        serving.resolve_folder(name, rules.allowed_folders, zips=True, use="exploring")
    limits = rules.limits if rules.served else None
    return held(load_dataset(name, split, stream=None, side=side, channels=channels, limits=limits))


def images(name: str, split: str, shape: Shape | None = None) -> torch.Tensor:
    """A split's (N, C, H, W) images, which the pages index and run models on (load_data holds them all)."""
    import torch

    found = load_data(name, split, shape).images
    if not isinstance(found, torch.Tensor):  # held() made every split a tensor: a stream here is a bug
        raise DatasetUnavailable(f"{dataset_title(name)} is streamed from its files, and no part of it is held.")
    return found


@st.cache_resource(show_spinner=False, max_entries=4)
def pictures(name: str, split: str, shape: Shape | None = None) -> np.ndarray:
    """A split's images as pictures ((N, H, W) or (N, H, W, 3)), converted once: for colour data the
    conversion is a copy of the whole split, which no rerun should make again. Shared, never mutated."""
    return render.to_pictures(images(name, split, shape))


@st.cache_data(show_spinner=False, max_entries=4)
def labels(name: str, split: str, shape: Shape | None = None) -> tuple[np.ndarray, list[str]]:
    """A split's labels and class names: for MNIST and its kin from the disk cache, without reading its pixels;
    for the others those of the images `load_data` holds."""
    if name in DECODED:
        return load_labels(name, split)
    data = load_data(name, split, shape)
    return data.labels.numpy(), data.classes


@st.cache_data(show_spinner=False, max_entries=8)
def disk_name(key: ModelData) -> str:
    """The dataset as keys of the disk cache name it: a known one by its name; a folder by its path and a hash of
    the images read from it, so that codes and maps kept on disk are never those of files since changed."""
    if not is_folder(key.dataset):
        return key.dataset
    held_images = images(*key.data).numpy()
    return f"{key.dataset}#{hashlib.blake2b(held_images.tobytes(), digest_size=16).hexdigest()}"
