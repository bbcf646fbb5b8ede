"""Which codes the latent map covers: the test split, or the dataset's training split (most of its images), encoded
once with progress and Stop, then kept in the disk cache like the test split's; of a streamed dataset, every file
of the split, where the other pages hold a part."""

from __future__ import annotations

import streamlit as st

from aelab.data.dataset import DatasetUnavailable
from aelab.ui import caches, keys, progress
from aelab.ui.context import Context

SPLITS = {"test": "test split", "train": "training split"}  # the splits a map can cover, by their registry names
CHOICE = "map_split"  # the session key of the radio


def _stop() -> None:
    """Stop clicked: the click ends the encoding's run at its next bar update; the map goes back to the test split."""
    st.session_state[CHOICE] = "test"


def covered(ctx: Context) -> Context:
    """The context of the split the map draws, from a radio shown when the dataset has a training split: another
    split than the sidebar's, when the disk cache lacks its codes, is encoded first, when the person asks, batch by
    batch with a bar and Stop."""
    try:
        shown = {split: ctx.of_split(split) for split in SPLITS}
        sizes = {split: len(caches.datasets.labels(*at.key.data)[0]) for split, at in shown.items()}
    except (DatasetUnavailable, OSError):  # no training split to offer: the sidebar's split alone
        return ctx
    split = st.radio(
        "Codes of",
        list(SPLITS),
        format_func=lambda name: f"the {SPLITS[name]} ({sizes[name]:,} images)",
        key=CHOICE,
        **keys.KEEP,
        help="The test split is the images the model never saw in training; the training split is larger: its "
        "codes are encoded once, with progress, then kept on disk. Every code is drawn.",
    )
    chosen = shown[split]
    if chosen.whole:
        st.caption(
            f"The map covers all {sizes[split]:,} images of the {SPLITS[split]}, read from their files; the other "
            "pages work on the part held."
        )
    if chosen.key == ctx.key or caches.codes.encoded(chosen.key):  # the sidebar's data encodes as every page's does
        return chosen
    prompt = st.empty()
    with prompt.container():
        st.info(f"The {sizes[split]:,} codes of the {SPLITS[split]} are not encoded yet: once, then kept.")
        if not st.button("Encode them", type="primary", key="map_encode"):
            st.stop()
    with prompt.container():
        bar, clock = st.progress(0.0, text="Encoding…"), progress.Clock()
        st.button("Stop", key="map_encode_stop", icon=":material/stop:", on_click=_stop)

        def report(done: float) -> None:
            bar.progress(done, text=clock.text("Encoding", done))

        caches.codes.encode(chosen.key, report)
    prompt.empty()
    return chosen
