"""Session-state keys that more than one page reads or writes, with accessors, so no page spells them out.

Keys that only one page's widgets use stay beside those widgets.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st

MODEL_LABEL = "model_label"  # the sidebar's model picker
MODEL_PATH = "model_path"  # the checkpoint it chose
DATASET = "dataset"  # the sidebar's dataset picker
UPLOADS = "uploads"  # name -> 28x28 image, shared by every page
UPLOAD_STEPS = "upload_steps"  # name -> [(step title, PNG)], for uploads made on the Reconstruct page
SELECTED_INDEX = "selected_index"  # the dataset row clicked on the map
MAP_LOCATION = "map_location"  # the empty spot clicked on a PCA map
INTERP_PATH = "interp_path"  # the codes of the current interpolation, drawn on the map
INTERP_PATH_DIGEST = "interp_path_digest"  # the model those codes belong to
TRAIN_JOB = "train_job"  # this session's latest jobs.TrainingJob

DATASET_INDEX, RANDOM_IMAGE, MAP_SELECTION, UPLOAD = "Dataset index", "Random image", "Map selection", "Upload"
LATENT_SOURCES = (DATASET_INDEX, RANDOM_IMAGE, MAP_SELECTION, UPLOAD)


class CodePicker(NamedTuple):
    """The widget keys of one `widgets.pick_latent`: the map sends an image there by setting them."""

    source: str
    index: str
    default: str
    random: str
    reroll: str
    upload: str

    def send(self, index: int) -> None:
        """Point this picker at dataset row `index`."""
        st.session_state.update({self.source: DATASET_INDEX, self.index: index})


def code_picker(name: str) -> CodePicker:
    return CodePicker(*(f"{name}_{part}" for part in CodePicker._fields))


INTERP_A, INTERP_B, TRAVERSE_BASE = code_picker("a"), code_picker("b"), code_picker("base")


def uploads() -> dict[str, np.ndarray]:
    return st.session_state.setdefault(UPLOADS, {})


def upload_steps() -> dict[str, list[tuple[str, bytes]]]:
    return st.session_state.setdefault(UPLOAD_STEPS, {})


def clear_uploads() -> None:
    st.session_state[UPLOADS] = {}
    st.session_state[UPLOAD_STEPS] = {}


def anomaly_threshold_key(digest: str, dataset: str) -> str:
    """The Anomaly page's threshold slider for one model and dataset; Reconstruct's verdict follows it."""
    return f"anomaly_threshold_{digest}_{dataset}"


def selected_index() -> int | None:
    return st.session_state.get(SELECTED_INDEX)


def interpolation_path(digest: str) -> np.ndarray | None:
    """The current interpolation's codes, if they belong to the model with this digest."""
    if st.session_state.get(INTERP_PATH_DIGEST) != digest:
        return None
    return st.session_state.get(INTERP_PATH)


def set_interpolation_path(path: np.ndarray, digest: str) -> None:
    st.session_state[INTERP_PATH] = path
    st.session_state[INTERP_PATH_DIGEST] = digest
