"""Widgets the pages share: pictures, model pickers, the code picker and downloads."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import streamlit as st

from aelab.explore.directions import WALK_EXTENT
from aelab.images import render
from aelab.store.checkpoints import Checkpoint, CheckpointError, describes_vae
from aelab.ui import caches, keys
from aelab.ui.context import Context, model_options

NO_COMPARISON = "(none)"


def show(
    pictures: np.ndarray | list[np.ndarray],
    captions: list[str] | str | None = None,
    scale: int = 4,
    columns: int | None = None,
) -> None:
    """Pictures (2-D gray or (H, W, 3) RGB, in [0, 1]) side by side at one on-screen size, in rows of
    `columns` when given.

    Each is enlarged `scale` times (nearest neighbour, so small pixels stay crisp) and drawn at
    exactly that width, however long its caption. They travel inside the page as data URIs, not
    through Streamlit's media store: a rerun (a Traverse slider's fragment, many a second while
    sliding) replaces a picture's media file while the browser may still be fetching the old one,
    which then fails with a 404 ("Image source error").
    """
    pictures = [np.clip(np.asarray(img, dtype=np.float32), 0, 1) for img in pictures]
    height = max(img.shape[0] for img in pictures)
    width = render.display_width(scale, height, max(img.shape[1] for img in pictures))
    scale = render.display_scale(scale, height)
    uris = [render.data_uri(render.to_png(render.enlarge(img, scale))) for img in pictures]
    if columns is None:
        st.image(uris, caption=captions, width=width)
        return
    caps = captions if isinstance(captions, list) else [captions] * len(pictures)
    for start in range(0, len(uris), columns):  # a row of columns at a time: rows stay level whatever the captions
        for column, uri, caption in zip(
            st.columns(columns), uris[start : start + columns], caps[start : start + columns]
        ):
            column.image(uri, caption=caption, width=width)


def picture_with_download(
    picture: np.ndarray, caption: str, file_name: str, key: str, label: str = "Grid (PNG)", scale: int = 3
) -> bytes:
    """A grid or strip enlarged on screen, and a PNG download of exactly what is shown; returns the PNG."""
    png = render.to_png(render.enlarge(picture, scale))
    st.image(png, caption=caption, output_format="PNG")
    st.download_button(
        label, png, file_name=file_name, mime="image/png", on_click="ignore", icon=":material/download:", key=key
    )
    return png


def pick_model(title: str, options: Mapping[str, str | None], default: str, key: str) -> Checkpoint | None:
    """A model picker loading the choice through the shared cache; None for a None option or a
    model that fails to load (then it says why)."""
    labels = list(options)
    label = st.selectbox(title, labels, index=labels.index(default), key=key)
    path = options[label]
    if path is None:
        return None
    try:
        return caches.models.load_model(path, caches.models.digest(path))
    except (CheckpointError, OSError) as err:
        st.error(f"Could not load {label}: {err}")
        return None


def comparison_picker(ctx: Context, key: str) -> Context | None:
    """A second model on the same data, by default one of the other kind (a VAE beside an AE)."""
    others = {label: path for label, path in model_options(shape=ctx.shape).items() if path != ctx.path}
    if not others:
        st.info("Only one model is available: train another (a VAE next to an autoencoder, say) to compare them.")
        return None
    meta = {str(item.path): item.meta for item in caches.models.listing() if item.meta}  # headers read once
    other_kind = [
        label for label, path in others.items() if describes_vae(meta.get(path, {})) != ctx.model.is_variational
    ]
    checkpoint = pick_model(
        "Compare with", {NO_COMPARISON: None, **others}, (other_kind or list(others))[0], key=f"{key}_{ctx.digest}"
    )
    return None if checkpoint is None else ctx.with_checkpoint(checkpoint)


def require_base(ctx: Context, picker: keys.CodePicker) -> tuple[np.ndarray, np.ndarray]:
    """The base code (float32) and its picture that Traverse and Directions start from; the page stops
    while the chosen source has nothing yet (`pick_latent` has said why)."""
    picked = pick_latent("Base", ctx, picker)
    if picked is None:
        st.stop()
    return np.asarray(picked[0], dtype=np.float32), picked[1]


def pick_latent(label: str, ctx: Context, picker: keys.CodePicker) -> tuple[np.ndarray, np.ndarray] | None:
    """A widget to choose a code: a dataset index, a random image, the map selection or an upload.

    Returns (code, image) or None when the chosen source has nothing yet.
    """
    last = len(ctx.data) - 1
    state = st.session_state
    state[picker.index] = min(int(state.get(picker.index, state.get(picker.default, 0))), last)
    if picker.source in state:
        state[picker.source] = state[picker.source]
    # Both set in this run: the browser draws a value set by an earlier run (the map's "Use as ...", a link)
    # only when it is set again in the run that draws the widget, so the boxes always show what is used.
    source = st.radio(label, keys.LATENT_SOURCES, horizontal=True, key=picker.source)
    index: int | None
    if source == keys.DATASET_INDEX:
        index = st.number_input("Index", 0, last, value="min", key=picker.index)
    elif source == keys.RANDOM_IMAGE:
        if st.button("New random image", key=picker.reroll) or picker.random not in st.session_state:
            st.session_state[picker.random] = int(np.random.default_rng().integers(len(ctx.data)))
        index = st.session_state[picker.random]
    elif source == keys.MAP_SELECTION:
        index = keys.selected_index(ctx.key)
        if index is None:
            st.info("Click a point on the Latent map page first.")
            return None
    else:
        uploads = keys.uploads()
        if not uploads:
            st.info("Upload an image on the Reconstruct page first.")
            return None
        name = st.selectbox("Uploaded image", list(uploads), key=picker.upload)
        return ctx.encode(uploads[name])[0], uploads[name]
    return ctx.codes().mu[index], render.to_pictures(ctx.images[index : index + 1])[0]


def direction_slider(label: str, unit: float, key: str) -> float:
    """A step along a direction in standard deviations of the dataset's codes along it, 0 at the base code
    (Directions, and Traverse on a spatial code)."""
    return st.slider(
        label,
        -WALK_EXTENT,
        WALK_EXTENT,
        step=WALK_EXTENT / 50,
        format="%.2f sd",
        key=key,
        help=f"In standard deviations of the dataset's codes along this direction (one is {unit:.2f} in the code's "
        "own units); 0 is the base code.",
    )


def traversal_grid(ctx: Context, png: bytes, rows: list[str], key: str) -> None:
    """Traverse's grid, its rows named under it, and its download."""
    st.image(png, caption="Rows, top to bottom: " + ", ".join(rows), output_format="PNG")
    st.download_button(
        "Download grid (PNG)",
        png,
        file_name=f"traversal-{ctx.checkpoint.path.stem}.png",
        mime="image/png",
        on_click="ignore",
        icon=":material/download:",
        key=key,
    )
