"""Session-state keys that more than one page reads or writes, with accessors, so no page spells them out.

Keys that only one page's widgets use stay beside those widgets.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, NamedTuple, TypedDict

import numpy as np
import streamlit as st

from aelab import views
from aelab.ui.caches.key import ModelData

MODEL_LABEL = "model_label"  # the sidebar's model picker
MODEL_PATH = "model_path"  # the checkpoint it chose
DATASET = "dataset"  # the sidebar's dataset picker
UPLOADS = "uploads"  # name -> 28x28 image, shared by every page
UPLOAD_STEPS = "upload_steps"  # name -> [(step title, PNG)], for uploads made on the Reconstruct page
MAP_CLICK = "map_click"  # a MapClick: what was last clicked on the map, and with which model and data
MAP_REGION = "map_region"  # a MapRegion: the points last boxed or lassoed on the map
SESSION_MODELS = "session_models"  # label -> path of the checkpoints uploaded in this session
SESSION_FOLDER = "session_folder"  # where they are kept: a temporary folder of this session's own
GROUPS = "map_groups"  # {"A": MapRegion, "B": MapRegion}: selections saved for an attribute vector
INTERP_PATH = "interp_path"  # the codes of the current interpolation, drawn on the map
INTERP_PATH_DIGEST = "interp_path_digest"  # the model those codes belong to
TRAIN_JOB = "train_job"  # this session's latest jobs.TrainingJob
LINK_READ = "link_read"  # set once this session's link (st.query_params) has chosen its model, dataset, point
LINKED_POINT = "linked_point"  # the test image a link selected, until the sidebar knows the model and data


class Kept(TypedDict):
    persist_state: Literal["session"]  # typed: each widget's signature checks **KEEP


KEEP: Kept = {"persist_state": "session"}  # a widget's setting survives a visit to another page

DATASET_INDEX, RANDOM_IMAGE, MAP_SELECTION, UPLOAD = "Dataset index", "Random image", "Map selection", "Upload"
LATENT_SOURCES = (DATASET_INDEX, RANDOM_IMAGE, MAP_SELECTION, UPLOAD)


@dataclass(frozen=True)
class CodePicker:
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
    return CodePicker(*(f"{name}_{part.name}" for part in fields(CodePicker)))


INTERP_A, INTERP_B, TRAVERSE_BASE = code_picker("a"), code_picker("b"), code_picker("base")
DIRECTIONS_BASE = code_picker("dir_base")


def uploads() -> dict[str, np.ndarray]:
    return st.session_state.setdefault(UPLOADS, {})


def upload_steps() -> dict[str, list[tuple[str, bytes]]]:
    return st.session_state.setdefault(UPLOAD_STEPS, {})


def clear_uploads() -> None:
    st.session_state[UPLOADS] = {}
    st.session_state[UPLOAD_STEPS] = {}


def session_models() -> dict[str, str]:
    return st.session_state.setdefault(SESSION_MODELS, {})


def session_folder() -> Path:
    """This session's own temporary folder, made on first use."""
    if SESSION_FOLDER not in st.session_state:
        st.session_state[SESSION_FOLDER] = tempfile.mkdtemp(prefix="aelab-session-")
    return Path(st.session_state[SESSION_FOLDER])


def anomaly_threshold_key(digest: str, dataset: str) -> str:
    """The Anomaly page's threshold slider for one model and dataset; Reconstruct's verdict follows it."""
    return f"anomaly_threshold_{digest}_{dataset}"


@dataclass(frozen=True)
class MapClick:
    """What was clicked on the latent map: a dataset row, or a spot of a PCA map to decode.

    It holds the Context.key it was made with: another model or dataset puts other images and
    codes under the same numbers, so there the click is dropped, never shown.
    """

    context: ModelData
    index: int | None = None
    location: tuple[float, float] | None = None


def _drop_if_other(key: str, context: ModelData) -> None:
    """Drop what the session keeps under `key` (a MapClick or MapRegion) if it was made with another model or data."""
    found = st.session_state.get(key)
    if found is not None and found.context != context:
        del st.session_state[key]


def map_click(context: ModelData) -> MapClick | None:
    """The last click on the map, if it was made with this model and data."""
    _drop_if_other(MAP_CLICK, context)
    return st.session_state.get(MAP_CLICK)


def set_map_click(click: MapClick | None) -> None:
    """Store a click on the map (None: the map has no selection any more); the link shows the point."""
    if click is None:
        st.session_state.pop(MAP_CLICK, None)
    else:
        st.session_state[MAP_CLICK] = click
        st.session_state.pop(MAP_REGION, None)
    if click is None or click.index is None:
        st.query_params.pop(views.POINT, None)
    else:
        st.query_params[views.POINT] = str(click.index)


def read_link(models: Collection[str], datasets: Mapping[str, str]) -> None:
    """On a session's first run, let its link choose the model, dataset (`datasets`: as a link writes it -> its
    name; a served app's link names a folder as Rules.public does) and selected point."""
    if st.session_state.get(LINK_READ):
        return
    st.session_state[LINK_READ] = True
    view = views.read(st.query_params.to_dict(), models, datasets)
    if view.model is not None:
        st.session_state[MODEL_LABEL] = view.model
    if view.dataset is not None:
        st.session_state[DATASET] = datasets[view.dataset]
    if view.point is not None:
        st.session_state[LINKED_POINT] = view.point


def show_in_link(model: str, dataset: str, context: ModelData, n_images: int) -> None:
    """Select the point a link asked for (when the data has it), then write this view into the link."""
    point = st.session_state.pop(LINKED_POINT, None)
    if point is not None and point < n_images:
        set_map_click(MapClick(context, index=point))
        for picker in (TRAVERSE_BASE, DIRECTIONS_BASE):  # the pages that start from one image start from it
            picker.send(point)
    st.query_params.from_dict(views.query(model, dataset, selected_index(context)))


class MapRegion(NamedTuple):
    """The dataset rows inside a box or lasso drawn on the latent map, with the Context.key they belong to."""

    context: ModelData
    rows: tuple[int, ...]


def map_region(context: ModelData) -> MapRegion | None:
    """The last box or lasso on the map, if it was drawn with this model and data."""
    _drop_if_other(MAP_REGION, context)
    return st.session_state.get(MAP_REGION)


def set_map_region(region: MapRegion | None) -> None:
    """Store a box or lasso selection (None: none); a region and a click replace each other."""
    if region is None:
        st.session_state.pop(MAP_REGION, None)
    else:
        st.session_state[MAP_REGION] = region
        set_map_click(None)


def save_group(side: str, region: MapRegion) -> None:
    """Keep a map selection as group A or B, for the Directions page's attribute vector."""
    st.session_state.setdefault(GROUPS, {})[side] = region


def groups(context: ModelData) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The rows of groups A and B when both were saved with this model and data, else None."""
    saved = st.session_state.get(GROUPS, {})
    if all(side in saved and saved[side].context == context for side in "AB"):
        return saved["A"].rows, saved["B"].rows
    return None


def selected_index(context: ModelData) -> int | None:
    """The dataset row clicked on the map with this model and data, if any; a click on another split's map (the
    training split's) is kept for that map, not dropped."""
    click = st.session_state.get(MAP_CLICK)
    return None if click is None or click.context != context else click.index


def interpolation_path(digest: str) -> np.ndarray | None:
    """The current interpolation's codes, if they belong to the model with this digest."""
    if st.session_state.get(INTERP_PATH_DIGEST) != digest:
        return None
    return st.session_state.get(INTERP_PATH)


def set_interpolation_path(path: np.ndarray, digest: str) -> None:
    st.session_state[INTERP_PATH] = path
    st.session_state[INTERP_PATH_DIGEST] = digest


def keep_alive() -> None:
    """Every run of the app is a sign of life for this session's training (app.py calls it)."""
    job = st.session_state.get(TRAIN_JOB)
    if job is not None and job.watch is not None:
        job.watch.beat()
