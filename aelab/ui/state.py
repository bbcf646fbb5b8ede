"""What every page shares: the sidebar's choices, cached models, data, codes and maps.

Models and datasets are st.cache_resource (one copy per process, never mutated); codes,
statistics and projections are st.cache_data keyed by checkpoint digest and dataset, and
projections also live in the disk cache, so no interaction re-encodes the dataset.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st
import torch

from aelab import anomaly, cache, latent
from aelab.checkpoints import (SHIPPED_DIR, Checkpoint, CheckpointError, Listing, describes_vae, file_digest,
                               list_checkpoints, load_checkpoint)
from aelab.data import DatasetUnavailable, ImageData, available_datasets, load_dataset
from aelab import images
from aelab.images import ImageError, enlarge
from aelab.models import describe

RUNS_DIR_ENV = "AELAB_RUNS_DIR"
CHECKPOINTS_DIR_ENV = "AELAB_CHECKPOINTS_DIR"
DEFAULT_MODEL = "vae"  # the shipped model the app opens on: a VAE, fast to encode
DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "kmnist": "KMNIST",
                  "digits": "scikit-learn digits (offline)"}


def runs_dir() -> Path:
    """Where models trained in the app are saved (and listed from)."""
    return Path(os.environ.get(RUNS_DIR_ENV) or SHIPPED_DIR.parent / "runs")


def shipped_dir() -> Path:
    """The starter checkpoints' folder (checkpoints/ unless $AELAB_CHECKPOINTS_DIR says otherwise)."""
    return Path(os.environ.get(CHECKPOINTS_DIR_ENV) or SHIPPED_DIR)


def label_for(path: Path) -> str:
    """The model picker's label: the file's stem, marked when the user trained it."""
    return path.stem if path.parent == shipped_dir() else f"{path.stem} (yours)"


# --- cached loaders ---------------------------------------------------------------------


@st.cache_data(show_spinner=False)
def digest_of(path: str, mtime: float, size: int) -> str:
    return file_digest(path)


def digest(path: str) -> str:
    stat = Path(path).stat()
    return digest_of(path, stat.st_mtime, stat.st_size)


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def load_model(path: str, digest: str) -> Checkpoint:
    """One shared model per checkpoint content; pages only run it under no_grad, never train it."""
    return load_checkpoint(path)


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def load_data(name: str, split: str) -> ImageData:
    return load_dataset(name, split, download=False, cached=True)


@st.cache_data(show_spinner="Encoding the dataset…", max_entries=8)
def codes(path: str, digest: str, dataset: str, split: str) -> latent.Codes:
    key = cache.cache_key(digest, dataset, split, len(load_data(dataset, split)))
    return latent.cached_codes(key, lambda: latent.encode_all(load_model(path, digest).model,
                                                              load_data(dataset, split).images))


@st.cache_data(show_spinner=False, max_entries=8)
def dim_stats(path: str, digest: str, dataset: str, split: str) -> latent.DimensionStats:
    return latent.dimension_stats(codes(path, digest, dataset, split))


@st.cache_data(show_spinner="Measuring reconstruction errors…", max_entries=8)
def errors(path: str, digest: str, dataset: str, split: str) -> np.ndarray:
    return anomaly.reconstruction_errors(load_model(path, digest).model, load_data(dataset, split).images)


@st.cache_data(show_spinner="Computing the PCA map…", max_entries=8)
def pca_map(path: str, digest: str, dataset: str, split: str) -> latent.Projection:
    key = cache.cache_key(digest, dataset, split, "pca")
    return latent.cached_projection(key, "pca", lambda: latent.pca(codes(path, digest, dataset, split).mu))


@st.cache_data(show_spinner=False, max_entries=8)
def stored_projection(key: str, method: str) -> latent.Projection | None:
    """A projection already in the disk cache, or None (never computes)."""
    return latent.load_projection(key, method)


def tsne_map(path: str, digest: str, dataset: str, split: str, n_points: int, perplexity: float,
             progress: Callable[[float], None] | None = None) -> latent.Projection:
    """The t-SNE map: from the caches when computed before, else computed once with progress."""
    key = cache.cache_key(digest, dataset, split, "tsne", n_points, perplexity)
    found = stored_projection(key, "tsne")
    if found is not None:
        return found
    mu = codes(path, digest, dataset, split).mu
    projection = latent.cached_projection(key, "tsne", lambda: latent.tsne(mu, n_points, perplexity, 0, progress))
    stored_projection.clear()
    return projection


@st.cache_resource(show_spinner="Preparing to place new points on the t-SNE map…", max_entries=4)
def tsne_placer(path: str, digest: str, dataset: str, split: str, n_points: int, perplexity: float):
    projection = tsne_map(path, digest, dataset, split, n_points, perplexity)
    return latent.tsne_placer(projection, codes(path, digest, dataset, split).mu)


@st.cache_data(show_spinner=False, max_entries=16)
def traversal_png(path: str, digest: str, dataset: str, split: str, base: bytes, dims: tuple[int, ...], steps: int,
                  scale: int) -> bytes:
    """The traversal grid of `dims` around the code `base` (float32 bytes) as a PNG, made once per choice."""
    stats = dim_stats(path, digest, dataset, split)
    code = np.frombuffer(base, dtype=np.float32)
    grid = latent.traversal_grid(load_model(path, digest).model, code, list(dims), stats.low, stats.high, steps)
    return images.to_png(enlarge(images.make_grid(grid, ncol=steps), scale))


@st.cache_data(show_spinner=False, max_entries=8)
def prior(path: str, digest: str, dataset: str, split: str) -> latent.Prior:
    model = load_model(path, digest).model
    return latent.prior_for(model, None if model.is_variational else codes(path, digest, dataset, split))


@st.cache_data(show_spinner=False, max_entries=4)
def reference_distance(dataset: str, split: str, n: int = 500) -> float:
    """How far a real test image is from its nearest other test image: the yardstick for samples."""
    pixels = load_data(dataset, split).images.numpy()[:, 0]
    rows = np.random.default_rng(0).choice(len(pixels), size=min(n, len(pixels)), replace=False)
    return float(latent.nearest_distances(pixels[rows], pixels, skip=rows).mean())


# --- the current choice -----------------------------------------------------------------


@dataclass
class Context:
    """The model and test data the sidebar selected; `key` identifies them for the caches."""

    checkpoint: Checkpoint
    data: ImageData
    dataset: str
    split: str = "test"

    @property
    def model(self):
        return self.checkpoint.model

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (str(self.checkpoint.path), self.checkpoint.digest, self.dataset, self.split)

    def codes(self) -> latent.Codes:
        return codes(*self.key)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Codes of 28x28 images (uploads) with the current model."""
        x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
        with torch.no_grad():
            return self.model.encode(x).numpy()

    def decode(self, z: np.ndarray) -> np.ndarray:
        return latent.decode(self.model, z)


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


def model_options(warn: bool = False) -> dict[str, str]:
    """Label -> path of every readable checkpoint, the default first; `warn` reports broken files."""
    options = {}
    for item in checkpoint_listing():
        if item.error:
            if warn:
                st.sidebar.warning(f"Skipped {item.path.name}: {item.error}", icon=":material/warning:")
            continue
        options[label_for(item.path)] = str(item.path)
    return dict(sorted(options.items(), key=lambda kv: kv[0] != DEFAULT_MODEL))


def dataset_options() -> tuple[list[str], str | None]:
    """Datasets on disk (digits always), and a note when MNIST had to be replaced by digits."""
    found = available_datasets()
    names = [name for name, ok in found.items() if ok]
    note = None if found["mnist"] else (
        "MNIST is not on disk (set AELAB_DATA_DIR, or train with the CLI online to download it): "
        "showing scikit-learn's digits instead.")
    return names, note


def sidebar() -> None:
    """Model and dataset pickers plus the model card; stores the choice in session state."""
    with st.sidebar:
        options = model_options(warn=True)
        if not options:
            st.error(f"No checkpoints found in {shipped_dir()} or {runs_dir()}.")
            st.page_link("aelab/ui/train.py", label="Train one here", icon=":material/model_training:")
            st.caption("or: `python -m aelab train --model vae --out runs/vae.safetensors`")
            st.session_state.pop("model_path", None)
            return
        label = st.selectbox("Model", list(options), key="model_label")
        st.session_state["model_path"] = options[label]
        names, note = dataset_options()
        st.selectbox("Dataset (test split)", names, key="dataset", format_func=lambda n: DATASET_TITLES.get(n, n))
        if note:
            st.info(note, icon=":material/wifi_off:")
        ctx = context(quiet=True)
        if ctx is not None:
            model_card(ctx.checkpoint)


def model_card(ckpt: Checkpoint) -> None:
    meta, cfg = ckpt.meta, ckpt.model.config
    st.markdown(f"**{describe(cfg)}**")
    train = meta.get("train", {})
    facts = {"trained on": meta.get("dataset", "?"), "epochs": meta.get("epochs", "?")}
    if train.get("noise"):
        facts["denoising"] = f"{train['noise']} {train.get('noise_level')}"
    if meta.get("status") not in (None, "finished", "early_stopped"):
        facts["ended"] = meta["status"].replace("_", " ")  # stopped / diverged / time budget / training
    if train.get("kl_warmup_epochs"):
        facts["KL warm-up"] = f"{train['kl_warmup_epochs']:g} epochs"
    if train:
        facts["batch · lr"] = f"{train['batch_size']} · {train['lr']:g}"
    metrics = meta.get("metrics") or {}
    for key, title in (("nelbo", "test −ELBO (nats)"), ("recon", "test recon (nats)"), ("active_units", "active units")):
        if key in metrics:
            facts[title] = f"{metrics[key]:.1f}" if isinstance(metrics[key], float) else metrics[key]
    st.caption("  \n".join(f"{k}: {v}" for k, v in facts.items()))
    if meta.get("command"):
        with st.expander("How it was trained"):
            st.code(meta["command"], language="bash")


def context(quiet: bool = False) -> Context | None:
    """The loaded model and data, or None after saying (unless quiet) what is missing."""
    path = st.session_state.get("model_path")
    dataset = st.session_state.get("dataset", "digits")
    if not path:
        if not quiet:
            st.warning("No model is available yet: train one on the Train page or with the CLI.")
            st.page_link("aelab/ui/train.py", label="Go to the Train page", icon=":material/model_training:")
        return None
    try:
        ckpt = load_model(path, digest(path))
        data = load_data(dataset, "test")
    except (CheckpointError, DatasetUnavailable, OSError) as err:
        if not quiet:
            st.error(str(err))
        return None
    return Context(ckpt, data, dataset)


def require_context() -> Context:
    """The current model and data; without them the page stops here, `context` having said why."""
    ctx = context()
    if ctx is None:
        st.stop()
    return ctx


# --- drawing helpers ----------------------------------------------------------------------


def show(images: np.ndarray | list[np.ndarray], captions: list[str] | str | None = None, scale: int = 4,
         columns: int | None = None) -> None:
    """28x28 images shown crisp (nearest-neighbour enlarged), side by side."""
    images = [np.clip(np.asarray(img, dtype=np.float32), 0, 1) for img in images]
    if columns is None:
        st.image([enlarge(img, scale) for img in images], caption=captions, clamp=True, output_format="PNG")
        return
    cols = st.columns(columns)
    caps = captions if isinstance(captions, list) else [captions] * len(images)
    for i, img in enumerate(images):
        cols[i % columns].image(enlarge(img, scale), caption=caps[i], clamp=True, output_format="PNG")


NO_COMPARISON = "(none)"


def pick_model(title: str, options: dict[str, str | None], default: str, key: str) -> Checkpoint | None:
    """A model picker loading the choice through the shared cache; None for a None option or a
    model that fails to load (then it says why)."""
    labels = list(options)
    label = st.selectbox(title, labels, index=labels.index(default), key=key)
    if options[label] is None:
        return None
    try:
        return load_model(options[label], digest(options[label]))
    except (CheckpointError, OSError) as err:
        st.error(f"Could not load {label}: {err}")
        return None


def comparison_picker(ctx: Context, key: str) -> Context | None:
    """A second model on the same data, by default one of the other kind (a VAE beside an AE)."""
    others = {label: path for label, path in model_options().items() if path != str(ctx.checkpoint.path)}
    if not others:
        st.info("Only one model is available: train another (a VAE next to an autoencoder, say) to compare them.")
        return None
    meta = {str(item.path): item.meta for item in checkpoint_listing() if item.meta}  # headers read once, cached
    other_kind = [label for label, path in others.items()
                  if describes_vae(meta.get(path, {})) != ctx.model.is_variational]
    checkpoint = pick_model("Compare with", {NO_COMPARISON: None, **others}, (other_kind or list(others))[0],
                            key=f"{key}_{ctx.checkpoint.digest}")
    return None if checkpoint is None else Context(checkpoint, ctx.data, ctx.dataset, ctx.split)


def pick_latent(label: str, ctx: Context, key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A widget to choose a code: a dataset index, the map selection or an upload.

    Returns (code, image) or None when the chosen source has nothing yet.
    """
    sources = ["Dataset index", "Random image", "Map selection", "Upload"]
    source = st.radio(label, sources, horizontal=True, key=f"{key}_source")
    if source == "Dataset index":
        index = st.number_input("Index", 0, len(ctx.data) - 1, value=st.session_state.get(f"{key}_default", 0),
                                key=f"{key}_index")
        return ctx.codes().mu[index], ctx.data.images[index, 0].numpy()
    if source == "Random image":
        if st.button("New random image", key=f"{key}_reroll") or f"{key}_random" not in st.session_state:
            st.session_state[f"{key}_random"] = int(np.random.default_rng().integers(len(ctx.data)))
        index = st.session_state[f"{key}_random"]
        return ctx.codes().mu[index], ctx.data.images[index, 0].numpy()
    if source == "Map selection":
        index = st.session_state.get("selected_index")
        if index is None:
            st.info("Click a point on the Latent map page first.")
            return None
        return ctx.codes().mu[index], ctx.data.images[index, 0].numpy()
    uploads = st.session_state.get("uploads", {})
    if not uploads:
        st.info("Upload an image on the Reconstruct page first.")
        return None
    name = st.selectbox("Uploaded image", list(uploads), key=f"{key}_upload")
    image = uploads[name]
    return ctx.encode(image)[0], image


# --- uploads shared by every page -----------------------------------------------------------

_MARKDOWN = re.compile(r"([\\`*_\[\]<>~$|#])")
STEP_PX = 128  # on-screen width of each preprocessing step


def markdown_safe(text: str) -> str:
    """A file name shown as typed: `*`, `_` and friends in it must not turn into formatting."""
    return _MARKDOWN.sub(r"\\\1", text)


def _store_upload(name: str, image: np.ndarray, uploads: dict[str, np.ndarray]) -> str:
    """Add an upload under its file name ("name (2)" when another picture already has it)."""
    key, n = name, 1
    while key in uploads and not np.array_equal(uploads[key], image):
        n += 1
        key = f"{name} ({n})"
    uploads[key] = image
    return key


def _step_png(step: np.ndarray) -> bytes:
    """One preprocessing step as a PNG, tiny steps enlarged crisply to at least STEP_PX."""
    return images.to_png(enlarge(step, max(1, math.ceil(STEP_PX / max(step.shape)))))


def take_uploads(files: list, seen_key: str, keep_steps: bool = False) -> list[str]:
    """Prepare uploaded files not seen before into st.session_state["uploads"]; one error line per bad file.

    A file is prepared once, on the first run that sees it: `seen_key` remembers each file_id
    still in this uploader (None when it went into the uploads, else its error), so reruns
    cost nothing and clearing the uploads does not bring back files still in the uploader.
    With `keep_steps`, the preprocessing steps are kept (as PNGs) in "upload_steps".
    """
    uploads = st.session_state.setdefault("uploads", {})
    steps = st.session_state.setdefault("upload_steps", {})
    before = st.session_state.get(seen_key, {})
    seen: dict[str, str | None] = {}
    for f in files:
        if f.file_id in before:
            seen[f.file_id] = before[f.file_id]
            continue
        try:
            with st.spinner(f"Preparing {f.name}…"):
                prepared = images.preprocess_bytes(f.getvalue(), f.name)
        except ImageError as err:
            seen[f.file_id] = str(err)
            continue
        seen[f.file_id] = None
        key = _store_upload(f.name, prepared.image, uploads)
        if keep_steps:
            steps[key] = [(title, _step_png(step)) for title, step in prepared.steps]
    st.session_state[seen_key] = seen
    return [f"**{markdown_safe(f.name)}**: {markdown_safe(seen[f.file_id])}" for f in files if seen[f.file_id]]
