"""Every expensive result the pages share, computed once per process and keyed by what produced it.

Models and datasets are st.cache_resource (one shared copy, never mutated); codes,
statistics and projections are st.cache_data keyed by checkpoint digest and dataset, and codes and
projections also live in the disk cache, so no interaction re-encodes the dataset.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st
import torch

from aelab.data.dataset import ImageData, sample_indices
from aelab.data.registry import load_dataset, load_labels
from aelab.explore import anomaly, encoding, priors, projections, walks
from aelab.images import render
from aelab.models import noise
from aelab.store import cache
from aelab.store.checkpoints import Checkpoint, Listing, file_digest, list_checkpoints, load_checkpoint, read_metadata
from aelab.training import one_class
from aelab.training.runs import runs_dir, shipped_dir

PSNR_IMAGES = 500  # test images behind the Denoise page's mean PSNR


@st.cache_data(show_spinner=False)
def _digest(path: str, mtime: float, size: int) -> str:
    return file_digest(path)


def digest(path: str) -> str:
    """A checkpoint's content hash, recomputed only when the file changes."""
    stat = Path(path).stat()
    return _digest(path, stat.st_mtime, stat.st_size)


@st.cache_data(show_spinner=False, max_entries=32)
def _metadata(path: str, mtime: float, size: int) -> dict:
    return read_metadata(path)


def metadata(path: str) -> dict:
    """A checkpoint's validated header (no weights read), re-read only when the file changes."""
    stat = Path(path).stat()
    return _metadata(path, stat.st_mtime, stat.st_size)


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def load_model(path: str, digest: str) -> Checkpoint:
    """One shared model per checkpoint content; pages only run it under no_grad, never train it."""
    return load_checkpoint(path)


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def load_data(name: str, split: str) -> ImageData:
    return load_dataset(name, split, download=False, cached=True)


@st.cache_resource(show_spinner=False, max_entries=4)
def pictures(name: str, split: str) -> np.ndarray:
    """A split's images as pictures ((N, H, W) or (N, H, W, 3)), converted once: for colour data the
    conversion is a copy of the whole split, which no rerun should make again. Shared, never mutated."""
    return render.to_pictures(load_data(name, split).images)


@st.cache_data(show_spinner=False, max_entries=4)
def labels(name: str, split: str) -> tuple[np.ndarray, list[str]]:
    """A split's labels and class names: for MNIST and its kin from the disk cache, without reading its pixels."""
    return load_labels(name, split)


@st.cache_data(show_spinner=False, max_entries=4)
def _listing(folders: tuple[str, ...], stamp: tuple) -> list[Listing]:
    return list_checkpoints(*folders)


def checkpoint_listing() -> list[Listing]:
    """Every checkpoint in the two folders, re-read only when a file there is added, removed or changed."""
    folders = (str(shipped_dir()), str(runs_dir()))
    stamp = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.safetensors")):
            try:
                stat = path.stat()
            except OSError:  # removed while listing: the next rerun sees the folder as it is
                continue
            stamp.append((str(path), stat.st_mtime_ns, stat.st_size))
    return _listing(folders, tuple(stamp))


# --- computed from a model and a dataset: arguments (path, digest, dataset, split) = Context.key ----


@st.cache_data(show_spinner="Encoding the dataset…", max_entries=8)
def codes(path: str, digest: str, dataset: str, split: str) -> encoding.Codes:
    key = cache.cache_key(digest, dataset, split, len(labels(dataset, split)[0]))
    return encoding.cached_codes(key, lambda: _encode(path, digest, dataset, split))


def _encode(path: str, digest: str, dataset: str, split: str) -> encoding.Codes:
    return encoding.encode_all(load_model(path, digest).model, load_data(dataset, split).images)


@st.cache_data(show_spinner=False, max_entries=8)
def dim_stats(path: str, digest: str, dataset: str, split: str) -> encoding.DimensionStats:
    return encoding.dimension_stats(codes(path, digest, dataset, split))


@st.cache_data(show_spinner="Measuring reconstruction errors…", max_entries=8)
def errors(path: str, digest: str, dataset: str, split: str) -> np.ndarray:

    return anomaly.reconstruction_errors(load_model(path, digest).model, load_data(dataset, split).images)


@st.cache_data(show_spinner="Computing the PCA map…", max_entries=8)
def pca_map(path: str, digest: str, dataset: str, split: str) -> projections.Projection:
    key = cache.cache_key(digest, dataset, split, "pca")
    return projections.cached_projection(key, "pca", lambda: projections.pca(codes(path, digest, dataset, split).mu))


@st.cache_data(show_spinner=False, max_entries=8)
def _stored_projection(key: str, method: str) -> projections.Projection | None:
    return projections.load_projection(key, method)


# Maps computed once, with progress, then kept on disk: method -> (function(codes, n_points, setting, seed,
# progress), the name of its one setting in Projection.params).
COMPUTED_MAPS = {"tsne": (projections.tsne, "perplexity"), "umap": (projections.umap, "n_neighbors")}


def _map_key(digest: str, dataset: str, split: str, method: str, n_points: int, setting: float) -> str:
    return cache.cache_key(digest, dataset, split, method, n_points, float(setting))


def stored_map(path: str, digest: str, dataset: str, split: str, method: str, n_points: int,
               setting: float) -> projections.Projection | None:
    """A t-SNE or UMAP map if it was computed before (memory or disk), else None: never computes."""
    return _stored_projection(_map_key(digest, dataset, split, method, n_points, setting), method)


def computed_map(path: str, digest: str, dataset: str, split: str, method: str, n_points: int, setting: float,
                 progress: Callable[[float], None] | None = None) -> projections.Projection:
    """A t-SNE or UMAP map: from the caches when computed before, else computed once with progress."""
    found = stored_map(path, digest, dataset, split, method, n_points, setting)
    if found is not None:
        return found
    mu = codes(path, digest, dataset, split).mu
    compute, _ = COMPUTED_MAPS[method]
    setting = int(setting) if method == "umap" else float(setting)
    projection = projections.cached_projection(_map_key(digest, dataset, split, method, n_points, setting), method,
                                          lambda: compute(mu, n_points, setting, 0, progress))
    _stored_projection.clear()
    return projection


@st.cache_resource(show_spinner="Preparing to place new points on the map…", max_entries=4)
def map_placer(path: str, digest: str, dataset: str, split: str, method: str, n_points: int, setting: float):
    """A function placing new codes (uploads, a path, a drawing) on a computed map: openTSNE's own transform
    for t-SNE, the weighted mean of the nearest mapped codes' places for UMAP."""
    projection = computed_map(path, digest, dataset, split, method, n_points, setting)
    mu = codes(path, digest, dataset, split).mu
    if method == "tsne":
        return projections.tsne_placer(projection, mu)
    return partial(projections.place_by_neighbours, projection, mu)


@st.cache_data(show_spinner=False, max_entries=16)
def traversal_png(path: str, digest: str, dataset: str, split: str, base: bytes, dims: tuple[int, ...], steps: int,
                  scale: int) -> bytes:
    """The traversal grid of `dims` around the code `base` (float32 bytes) as a PNG, made once per choice:
    a row per dimension, labelled with it, and under each picture the value that dimension takes there."""
    stats = dim_stats(path, digest, dataset, split)
    code = np.frombuffer(base, dtype=np.float32)
    grid = walks.traversal_grid(load_model(path, digest).model, code, list(dims), stats.low, stats.high, steps)
    values = walks.traversal_values(stats.low, stats.high, list(dims), steps)
    labelled = render.labelled_grid(grid.reshape(len(dims), steps, *grid.shape[1:]), [f"dim {d}" for d in dims],
                                    [[f"{v:.2f}" for v in row] for row in values], scale)
    return render.to_png(labelled)


@st.cache_data(show_spinner=False, max_entries=8)
def prior(path: str, digest: str, dataset: str, split: str) -> priors.Prior:
    model = load_model(path, digest).model
    return priors.prior_for(model, None if model.is_variational else codes(path, digest, dataset, split))


@st.cache_data(show_spinner="Preparing the CSV…", max_entries=4)
def codes_csv(path: str, digest: str, dataset: str, split: str) -> bytes:
    return projections.codes_csv(codes(path, digest, dataset, split).mu, load_data(dataset, split).labels.numpy(),
                            pca_map(path, digest, dataset, split))


@st.cache_resource(show_spinner=False)
def experiment_results() -> dict[tuple, one_class.OneClassResult]:
    """One-class results by settings, shared by sessions: the same settings (and seed) give the same run."""
    return {}


@st.cache_data(show_spinner=False, max_entries=4)
def reference_distance(dataset: str, split: str, n: int = 500) -> float:
    """How far a real test image is from its nearest other test image: the yardstick for samples."""
    pixels = pictures(dataset, split)
    rows = sample_indices(len(pixels), n, seed=0)
    return float(priors.nearest_distances(pixels[rows], pixels, skip=rows).mean())


@st.cache_data(show_spinner=False, max_entries=4)
def reference_diversity(dataset: str, split: str, n: int = 500) -> float:
    """How different real test images are from each other: the yardstick for the samples' diversity."""
    pixels = pictures(dataset, split)
    return priors.diversity(pixels[sample_indices(len(pixels), n, seed=0)])


@st.cache_data(show_spinner="Measuring PSNR on test images…", max_entries=64)
def mean_psnr(path: str, digest: str, dataset: str, kind: str, level: float, seed: int) -> tuple[float, float]:
    """Mean PSNR (dB) of the noisy input and of the model's output over the first test images."""

    clean = load_data(dataset, "test").images[:PSNR_IMAGES]
    noisy = noise.add_noise(clean, kind, level, torch.Generator().manual_seed(seed))
    output = render.to_tensor(encoding.reconstruct(load_model(path, digest).model, noisy), tuple(clean.shape[1:]))
    return float(noise.psnr(clean, noisy).mean()), float(noise.psnr(clean, output).mean())
