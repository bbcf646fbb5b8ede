"""Uploaded images, prepared once per file and kept for every page in session state."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from aelab import images
from aelab.images import ImageError
from aelab.ui import keys
from aelab.ui.text import markdown_safe

STEP_PX = 128  # on-screen width (and height) of each preprocessing step


def step_png(step: np.ndarray) -> bytes:
    """One preprocessing step as a square PNG (centred on gray), so that every step shows at one size;
    tiny steps enlarged crisply to at least STEP_PX."""
    square = images.pad_square(step)
    return images.to_png(images.enlarge(square, max(1, math.ceil(STEP_PX / len(square)))))


def take_uploads(files: list, seen_key: str, keep_steps: bool = False) -> list[str]:
    """Prepare uploaded files not seen before into the session's uploads; one error line per bad file.

    A file is prepared once, on the first run that sees it: `seen_key` remembers each file_id
    still in this uploader (None when it went into the uploads, else its error), so reruns
    cost nothing and clearing the uploads does not bring back files still in the uploader.
    With `keep_steps`, the preprocessing steps are kept (as PNGs) for the Reconstruct page.
    """
    uploads, steps = keys.uploads(), keys.upload_steps()
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
        key = images.unique_name(f.name, prepared.image, uploads)
        uploads[key] = prepared.image
        if keep_steps:
            steps[key] = [(title, step_png(step)) for title, step in prepared.steps]
    st.session_state[seen_key] = seen
    return [f"**{markdown_safe(f.name)}**: {markdown_safe(seen[f.file_id])}" for f in files if seen[f.file_id]]
