"""Checkpoints: the listing of both folders, each file's digest and header, and the loaded models."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from aelab.models.config import allowed_entry_points
from aelab.store.checkpoints import Checkpoint, Listing, file_digest, list_checkpoints, load_checkpoint, read_metadata
from aelab.training.runs import runs_dir, shipped_dir
from aelab.ui.caches.key import ModelData

if TYPE_CHECKING:
    from aelab.models.autoencoders import LatentModel


@st.cache_data(show_spinner=False)
def _digest(path: str, mtime: float, size: int) -> str:
    return file_digest(path)


def digest(path: str) -> str:
    """A checkpoint's content hash, recomputed only when the file changes."""
    stat = Path(path).stat()
    return _digest(path, stat.st_mtime, stat.st_size)


@st.cache_data(show_spinner=False, max_entries=32)
def _metadata(path: str, mtime: float, size: int, allowed: tuple[str, ...]) -> dict:
    return read_metadata(path)


def metadata(path: str) -> dict:
    """A checkpoint's validated header (no weights read), re-read only when the file changes or the operator
    allows other code (a header naming code is valid only while its entry point is allowed)."""
    stat = Path(path).stat()
    return _metadata(path, stat.st_mtime, stat.st_size, allowed_entry_points())


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def load_model(path: str, digest: str) -> Checkpoint:
    """One shared model per checkpoint content; pages only run it under no_grad, never train it."""
    return load_checkpoint(path)


def model(key: ModelData) -> LatentModel:
    """The key's model, from the shared copy."""
    return load_model(key.path, key.digest).model


WARM_AFTER_S = 2.0  # after a torch-free page is drawn: the browser draws it first, then the import takes a core
_warming: set[str] = set()  # modules this process imports, or has imported, ahead of need


def import_soon(module: str) -> None:
    """Import `module` (one that imports torch) in a thread WARM_AFTER_S from now, once per process: a page drawn
    without torch (the latent map from the disk cache) stays so, and its first click finds torch imported, not a
    wait of seconds."""
    if module in _warming:
        return
    _warming.add(module)
    timer = threading.Timer(WARM_AFTER_S, importlib.import_module, args=(module,))
    timer.daemon = True  # a server stopping does not wait for it
    timer.start()


@st.cache_data(show_spinner=False, max_entries=4)
def _listing(folders: tuple[str, ...], stamp: tuple, allowed: tuple[str, ...]) -> list[Listing]:
    return list_checkpoints(*folders)


def listing() -> list[Listing]:
    """Every checkpoint in the two folders, re-read only when a file there is added, removed or changed, or the
    operator allows other code."""
    folders = (str(shipped_dir()), str(runs_dir()))
    stamp = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.safetensors")):
            try:
                stat = path.stat()
            except OSError:  # removed while listing: the next rerun sees the folder as it is
                continue
            stamp.append((str(path), stat.st_mtime_ns, stat.st_size))
    return _listing(folders, tuple(stamp), allowed_entry_points())
