"""Where the Train page's images come from: a built-in dataset, a folder on the server or an uploaded zip.

The data widgets draw here and hand back a Choice, which loads its splits and knows the shape a model trained on
them takes; the rest of the form (ui.train_form) reads only that.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import streamlit as st

from aelab import serving
from aelab.data.dataset import DatasetUnavailable, ImageData, Splits
from aelab.data.folders import DIGITS, FOLDER_SIDES, picture_options
from aelab.data.registry import dataset_shape, dataset_title
from aelab.ui import caches, loading
from aelab.ui.data_choice import dataset_options, offline_notice
from aelab.ui.keys import KEEP
from aelab.ui.text import PICTURE_HELP, PICTURE_MODES, markdown_safe

BUILTIN, FOLDER, ZIP = "Built-in dataset", "Folder on the server", "Upload a zip"


class Choice(NamedTuple):
    """The chosen data: a short name for the run name, what TrainConfig.dataset records (what the CLI's
    --dataset would take, or the zip's name), and a folder's or zip's images, read (None: built in)."""

    short: str
    dataset: str
    splits: Splits | None

    def load(self, split: str) -> ImageData:
        return caches.datasets.load_data(self.dataset, split) if self.splits is None else getattr(self.splits, split)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of its images: the model trained on them takes these."""
        known = dataset_shape(self.dataset)
        if known is not None:
            return known
        if self.splits is None:
            raise ValueError(f"{self.dataset} is not a known dataset, and no images of it were read.")
        return self.splits.train.shape


def choose_data(disabled: bool, served: serving.Rules) -> Choice | None:
    """The data widgets and what they found; None until usable data is chosen."""
    sources = [BUILTIN, *([FOLDER] if served.allowed_folders != () else []), ZIP]  # () : no server folder at all
    source = st.radio("Data", sources, key="train_source", disabled=disabled, horizontal=True, **KEEP)
    limits = served.limits
    if source == BUILTIN:
        names, _ = dataset_options()
        name = st.selectbox("Dataset", names, key="train_dataset", disabled=disabled, format_func=dataset_title, **KEEP)
        offline_notice(name)
        choice = Choice(name, name, None)
    else:
        shape = picture_shape(disabled)
    if source == FOLDER:
        allowed = served.allowed_folders
        inside = "" if allowed is None else f", inside {serving.folder_names(allowed)}: type a path relative to it"
        path = st.text_input(
            "Folder of images",
            key="train_folder",
            disabled=disabled,
            placeholder="/home/me/my_digits" if allowed is None else "my_digits",
            help="Images in it, or in one subfolder per class "
            f"(the subfolder names become the labels). Read on the machine running aelab{inside}; "
            f"at most {limits.files:,} images and {limits.bytes // 2**20:,} MB.",
            **KEEP,
        )
        if not path.strip():
            return None
        try:
            folder = serving.resolve_folder(path, served.allowed_folders)
        except serving.FolderRefused as err:
            st.error(markdown_safe(str(err)))
            return None
        title = serving.shown_folder(folder, served.allowed_folders)  # a served app's: never where it lies
        splits = loading.load(
            str(folder),
            title,
            lambda loader: loading.folder_splits(
                str(folder), limits, **shape, title=title, _progress=loader.progress, _should_stop=loader.should_stop
            ),
        )
        choice = Choice(folder.name, str(folder), splits)
    elif source == ZIP:
        upload = st.file_uploader(
            "Zip of images",
            type=["zip"],
            key="train_zip",
            disabled=disabled,
            help=f"Images, optionally in one folder per class. At most {limits.files:,} "
            f"files and {limits.bytes // 2**20:,} MB unpacked.",
        )
        if upload is None:
            return None
        splits = loading.load(
            upload.file_id,
            upload.name,
            lambda loader: loading.zip_splits(
                upload.getvalue(),
                upload.name,
                limits,
                **shape,
                _progress=loader.progress,
                _should_stop=loader.should_stop,
            ),
        )
        choice = Choice(Path(upload.name).stem, upload.name, splits)
    if source != BUILTIN and choice.splits is None:
        return None
    try:
        train = choice.load("train")
    except DatasetUnavailable as err:
        st.error(str(err))
        return None
    listed = ", ".join(train.classes[:10]) + (", …" if len(train.classes) > 10 else "")
    classes = f"{len(train.classes)} classes ({listed})"
    held_out = "" if source == BUILTIN else "; a fifth more are held out for testing"
    st.caption(f"{len(train):,} training images, " + (classes if train.classes else "unlabelled") + held_out + ".")
    return choice


def picture_shape(disabled: bool) -> dict[str, int | None]:
    """How a folder's or zip's files become pictures (data.picture_options): MNIST's digit recipe, or gray or colour
    at a side the person picks."""
    mode = st.selectbox(
        "Pictures",
        list(PICTURE_MODES),
        format_func=PICTURE_MODES.__getitem__,
        key="train_pictures",
        disabled=disabled,
        help=PICTURE_HELP,
        **KEEP,
    )
    side = st.radio(
        "Side (pixels)", FOLDER_SIDES, key="train_side", disabled=disabled or mode == DIGITS, horizontal=True, **KEEP
    )
    return picture_options(mode, side)
