"""Uploaded images, prepared once per file and kept for every page in session state, within bounds."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import streamlit as st

from aelab.images import inputs, render
from aelab.images.reading import ImageError
from aelab.models.config import DIGIT_SHAPE
from aelab.serving import MAX_SELECTIONS, MAX_UPLOAD_BYTES, MAX_UPLOADS, evict_oldest
from aelab.store.checkpoints import SUFFIX, CheckpointError, load_checkpoint
from aelab.store.files import atomic_write
from aelab.ui import keys
from aelab.ui.text import dropped_uploads, markdown_safe, unread_uploads

STEP_PX = 128  # on-screen width (and height) of each preprocessing step


def step_png(step: np.ndarray) -> bytes:
    """One preprocessing step as a square PNG (centred on gray), so that every step shows at one size;
    tiny steps enlarged crisply to at least STEP_PX."""
    square = render.pad_square(step)
    return render.to_png(render.enlarge(square, max(1, math.ceil(STEP_PX / len(square)))))


def take_uploads(
    files: list, seen_key: str, shape: tuple[int, int, int] = DIGIT_SHAPE, keep_steps: bool = False
) -> list[str]:
    """Prepare uploaded files not seen before into the session's uploads, as a model taking `shape` images takes
    them (images.prepare_for: MNIST's digit recipe for a 1x28x28 model); one error line per bad file.

    A file is prepared once, on the first run that sees it: `seen_key` remembers each file_id
    still in this uploader (None when it went into the uploads, else its error), so reruns
    cost nothing and clearing the uploads does not bring back files still in the uploader.
    With `keep_steps`, the preprocessing steps are kept (as PNGs) for the Reconstruct page.
    A session keeps at most MAX_UPLOADS images (MAX_UPLOAD_BYTES with their steps), the oldest
    going first with a toast, and reads only the newest MAX_SELECTIONS files of an uploader.
    """
    uploads, steps = keys.uploads(), keys.upload_steps()
    before = st.session_state.get(seen_key, {})
    recent = files[-MAX_SELECTIONS:]
    seen: dict[str, str | None] = {}
    dropped: list[str] = []
    for f in recent:
        if f.file_id in before:
            seen[f.file_id] = before[f.file_id]
            continue
        try:
            with st.spinner(f"Preparing {f.name}…"):
                prepared = inputs.prepare_bytes(f.getvalue(), f.name, inputs.spec_for(shape, digits=True))
        except ImageError as err:
            seen[f.file_id] = str(err)
            continue
        seen[f.file_id] = None
        key = render.unique_name(f.name, prepared.image, uploads)
        uploads[key] = prepared.image
        if keep_steps:
            steps[key] = [(title, step_png(step)) for title, step in prepared.steps]
        dropped += _make_room(uploads, steps)
    st.session_state[seen_key] = seen
    if dropped:
        st.toast(dropped_uploads(dropped, MAX_UPLOADS, MAX_UPLOAD_BYTES / 2**20), icon=":material/delete_sweep:")
    messages = [f"**{markdown_safe(f.name)}**: {markdown_safe(error)}" for f in recent if (error := seen[f.file_id])]
    return messages + ([unread_uploads(len(files) - len(recent), MAX_SELECTIONS)] if len(files) > len(recent) else [])


def keep(name: str, image: np.ndarray) -> str:
    """Add a prepared 28x28 picture (a drawing) to the session's uploads, within their bounds; its name there."""
    uploads, steps = keys.uploads(), keys.upload_steps()
    key = render.unique_name(name, image, uploads)
    uploads[key] = image
    dropped = _make_room(uploads, steps)
    if dropped:
        st.toast(dropped_uploads(dropped, MAX_UPLOADS, MAX_UPLOAD_BYTES / 2**20), icon=":material/delete_sweep:")
    return key


def _make_room(uploads: dict[str, np.ndarray], steps: dict[str, list[tuple[str, bytes]]]) -> list[str]:
    """Drop the oldest uploads (and their steps) beyond the session's bounds; their names."""

    def size(name: str) -> int:
        return uploads[name].nbytes + sum(len(png) for _, png in steps.get(name, ()))

    dropped = evict_oldest(uploads, MAX_UPLOADS, MAX_UPLOAD_BYTES, size)
    for name in dropped:
        steps.pop(name, None)
    return dropped


UPLOADED = " (uploaded)"  # marks a checkpoint uploaded in this session in the model picker
CHECKPOINTS_SEEN = "checkpoints_seen"  # file_id -> None when taken, else why not


def take_checkpoints(files: list) -> list[str]:
    """Checkpoints uploaded in the browser, kept for this session and listed with the others; one error line
    per file that is not one. They are checked exactly like files on disk (checkpoints.load_checkpoint:
    safetensors only, never unpickled, the header's claims checked against the tensors before anything
    is built), once per file."""
    seen = st.session_state.setdefault(CHECKPOINTS_SEEN, {})
    for f in files[-MAX_SELECTIONS:]:
        if f.file_id not in seen:
            seen[f.file_id] = _take_checkpoint(f)
    return [
        f"**{markdown_safe(f.name)}**: {markdown_safe(seen[f.file_id])}"
        for f in files[-MAX_SELECTIONS:]
        if seen.get(f.file_id)
    ]


def _take_checkpoint(f) -> str | None:

    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(f.name).stem).strip("-.")[:60] or "model"
    path = keys.session_folder() / f.file_id.replace("/", "_")[:40] / f"{stem}{SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, f.getvalue())
    try:
        load_checkpoint(path)
    except CheckpointError as err:
        path.unlink(missing_ok=True)
        return str(err)
    models = keys.session_models()
    label, n = f"{stem}{UPLOADED}", 1
    while label in models:  # two uploads of one name: both listed
        n += 1
        label = f"{stem} {n}{UPLOADED}"
    models[label] = str(path)
    return None
