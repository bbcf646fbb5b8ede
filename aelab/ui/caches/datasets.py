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
from aelab.data.sources import STREAMED, held, is_folder
from aelab.images import render
from aelab.ui.caches.key import ModelData, Shape

if TYPE_CHECKING:
    import torch


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def _read(name: str, split: str, shape: Shape | None = None) -> ImageData:
    """A split as its files give it: in memory, or (CelebA, a large folder) a stream standing for them. A known
    dataset at its own shape; a folder's or zip's files made pictures of `shape` (None: MNIST's digit recipe). A
    served app reads a folder only inside its allowed ones, within its limits, whatever asked for it."""
    if not is_folder(name):
        return load_dataset(name, split, download=False, cached=True)
    channels, side = (None, None) if shape is None else (shape[0], shape[1])
    rules = serving.rules(st.get_option("server.address"))
    if rules.served:
        serving.resolve_folder(name, rules.allowed_folders, zips=True, use="exploring")
    limits = rules.limits if rules.served else None
    return load_dataset(name, split, stream=None, side=side, channels=channels, limits=limits)


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def load_data(name: str, split: str, shape: Shape | None = None, whole: bool = False) -> ImageData:
    """A split, at `shape` (C, H, W) when given: a known dataset padded or resized to it as models of that shape
    are trained on it (registry.fitted), its note saying so. A streamed split is held in part (sources.held), or
    `whole`: all its files, read when asked (the latent map's codes and clicked points; `streamed` says when)."""
    if whole:
        return _read(name, split, shape)
    if is_folder(name):
        return held(_read(name, split, shape))
    data = held(_read(name, split))  # held at its own shape, then fitted: a stream is read at its own shape only
    if shape is None:
        return data
    fit = fitted(data, shape[0], shape[1])  # what it did is the page's line (context.require_context)
    return dataclasses.replace(fit, note=data.note) if data.note else fit  # a held part's note stays


def streamed(key: ModelData) -> bool:
    """Whether the app holds only part of this split (sources.held), its files being too many for memory: then
    the latent map can encode them all. A known dataset fitted to another shape is held only."""
    if not is_folder(key.dataset) and (key.dataset not in STREAMED or key.shape is not None):
        return False
    from aelab.data.streaming import ImageFiles

    return isinstance(_read(key.dataset, key.split, key.shape if is_folder(key.dataset) else None).images, ImageFiles)


def images(name: str, split: str, shape: Shape | None = None, whole: bool = False) -> torch.Tensor:
    """A split's (N, C, H, W) images, which the pages index and run models on (load_data holds them all)."""
    import torch

    found = load_data(name, split, shape, whole).images
    if not isinstance(found, torch.Tensor):  # only the latent map asks for a whole stream, and reads rows of it
        raise DatasetUnavailable(f"{dataset_title(name)} is streamed from its files, and no part of it is held.")
    return found


@st.cache_data(show_spinner=False, max_entries=32)
def rows(key: ModelData, index: tuple[int, ...]) -> torch.Tensor:
    """The images at some rows of a split (a click's, the map's pictures): of a streamed split decoded from their
    files once, not again at each rerun of the page."""
    return load_data(*key.data).rows(list(index))


@st.cache_resource(show_spinner=False, max_entries=4)
def pictures(name: str, split: str, shape: Shape | None = None, whole: bool = False) -> np.ndarray:
    """A split's images as pictures ((N, H, W) or (N, H, W, 3)), converted once: for colour data the
    conversion is a copy of the whole split, which no rerun should make again. Shared, never mutated."""
    return render.to_pictures(images(name, split, shape, whole))


@st.cache_data(show_spinner=False, max_entries=4)
def labels(name: str, split: str, shape: Shape | None = None, whole: bool = False) -> tuple[np.ndarray, list[str]]:
    """A split's labels and class names: for MNIST and its kin from the disk cache, without reading its pixels;
    for the others those of the images `load_data` holds."""
    if name in DECODED:
        return load_labels(name, split)
    data = load_data(name, split, shape, whole)
    return data.labels.numpy(), data.classes


@st.cache_data(show_spinner=False, max_entries=8)
def disk_name(key: ModelData) -> str:
    """The dataset as keys of the disk cache name it: a known one by its name; a folder by its path and a hash of
    the images read from it (a whole stream: of its files' names, sizes and dates), so that codes and maps kept on
    disk are never those of files since changed."""
    if key.whole:  # a stream's every file: named by their names, sizes and dates, as its decoded cache is
        from aelab.data.streaming import ImageFiles

        files = load_data(*key.data).images
        assert isinstance(files, ImageFiles)  # `whole` is set only where `streamed` said so
        return f"{key.dataset}#{files.key}"
    if not is_folder(key.dataset):
        return key.dataset
    held_images = images(*key.data).numpy()
    return f"{key.dataset}#{hashlib.blake2b(held_images.tobytes(), digest_size=16).hexdigest()}"
