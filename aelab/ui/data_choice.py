"""The datasets the sidebar offers: those known by name that are on disk, and folders and zips, each by its
resolved path: the one a model was trained on (its checkpoint records it) and those a person adds here (any on a
local app; inside the allowed folders on a served one)."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from aelab import serving
from aelab.data.registry import FALLBACK_DATASET, available_datasets, dataset_shape, dataset_title
from aelab.data.sources import is_folder, recorded_folder, split_note
from aelab.store.checkpoints import image_shape
from aelab.ui import caches, keys
from aelab.ui.text import OFFLINE_NOTE, markdown_safe

ADDED = "added_folders"  # the folders and zips added in this session, by resolved path
FOLDER_INPUT = "add_folder"  # the sidebar's text box that adds one
FOLDER_ERROR = "add_folder_error"  # why the last one typed was refused
OFFLINE_ICON = ":material/wifi_off:"
EXPLORING = "exploring"  # what a refused folder is not open to, in its one line


def dataset_options() -> tuple[list[str], str | None]:
    """Datasets on disk (the fallback always), and a note when MNIST had to be replaced by it."""
    found = available_datasets()
    names = [name for name, ok in found.items() if ok]
    return names, None if found["mnist"] else OFFLINE_NOTE


def sidebar_datasets(rules: serving.Rules, metas: Iterable[dict]) -> tuple[list[str], str | None]:
    """The sidebar's datasets: those on disk, then the folders `folder_options` offers; the offline note."""
    names, note = dataset_options()
    return names + [path for path in folder_options(rules, metas) if path not in names], note


def notes(offline: str | None, meta: dict, names: list[str], rules: serving.Rules) -> None:
    """Under the dataset picker: the offline note, the one line when the model's folder is missing, and the box
    that adds a folder or zip."""
    if offline:
        st.info(offline, icon=OFFLINE_ICON)
    missing = missing_note(meta, names, st.session_state[keys.DATASET], rules)
    if missing:
        st.info(missing, icon=":material/folder_off:")
    add_folder(rules)


def offline_notice(dataset: str) -> None:
    """Say in the page's body, not only the sidebar, when `dataset` is the offline stand-in for MNIST."""
    if dataset == FALLBACK_DATASET and dataset_options()[1]:
        st.info(OFFLINE_NOTE, icon=OFFLINE_ICON)


def folder_options(rules: serving.Rules, metas: Iterable[dict]) -> list[str]:
    """The folders and zips recorded by the checkpoints of `metas` and added in this session that are there and
    open to this app (a served one: inside its allowed folders), oldest first."""
    recorded = [found["path"] for meta in metas if (found := recorded_folder(meta)) is not None]
    return [path for path in dict.fromkeys([*recorded, *st.session_state.get(ADDED, [])]) if _open(path, rules)]


def _open(path: str, rules: serving.Rules) -> bool:
    try:
        return str(serving.resolve_folder(path, rules.allowed_folders, zips=True, use=EXPLORING)) == path
    except serving.FolderRefused:
        return False


def own_folder(meta: dict, names: list[str]) -> str | None:
    """The folder or zip a checkpoint was trained on, when this app offers it."""
    found = recorded_folder(meta)
    return found["path"] if found is not None and found["path"] in names else None


def missing_note(meta: dict, names: list[str], shown: str, rules: serving.Rules) -> str | None:
    """One line when a checkpoint's own folder is not offered here (gone, moved, or outside a served app's
    allowed folders), naming what is shown instead; None when it is offered or the model learnt no folder."""
    found = recorded_folder(meta)
    if found is None or found["path"] in names:
        return None
    where = "this server or not open here" if rules.served else "this machine"
    named = dataset_title(found["path"]) if rules.served else found["path"]  # a server's paths are not for its users
    return f"Trained on {named}, which is not on {where}: shown on {dataset_title(shown)} instead."


def data_note(dataset: str, note: str, meta: dict) -> str:
    """What a page says of a folder or a held stream it shows: what reading it did (by the dataset's name), and
    whether its test split is the one the model was trained without."""
    title = dataset_title(dataset)
    lines = [line for line in (note, split_note(meta, dataset)) if line]
    return " ".join(line if line.startswith(title) else f"{title}: {line}" for line in lines)


def add_folder(rules: serving.Rules) -> None:
    """The sidebar's box that adds a folder or zip to the dataset picker and shows it, where any may be read."""
    error, allowed = st.session_state.get(FOLDER_ERROR), rules.allowed_folders
    if allowed == ():  # a served app that opens no server folder offers no box
        return
    inside = "" if allowed is None else f" Inside {serving.folder_names(allowed)}: type a path relative to it."
    with st.expander("Add a folder or zip", expanded=bool(error)):
        st.text_input(
            "Folder or zip of images",
            key=FOLDER_INPUT,
            on_change=_added,
            args=(rules,),
            placeholder="/home/me/my_pictures" if allowed is None else "my_pictures",
            help="Images in it, or in one subfolder per class (their names become the labels), read on the machine "
            f"running aelab.{inside} It is shown by its held-out test split, at the model's size and colour.",
        )
        if error:
            st.error(markdown_safe(error), icon=":material/error:")


def _added(rules: serving.Rules) -> None:
    typed = st.session_state.get(FOLDER_INPUT, "")
    try:
        found = str(serving.resolve_folder(typed, rules.allowed_folders, zips=True, use=EXPLORING))
    except serving.FolderRefused as err:
        st.session_state[FOLDER_ERROR] = str(err)
        return
    added = [path for path in st.session_state.get(ADDED, []) if path != found][-serving.MAX_SELECTIONS + 1 :]
    st.session_state[ADDED] = [*added, found]
    st.session_state[keys.DATASET] = found
    st.session_state.pop(FOLDER_ERROR, None)


def follow_model(options: dict[str, str], names: list[str]) -> None:
    """A model picked: show the folder it learnt, if offered; else, if it takes other images than those shown, the
    dataset it learnt or one of its shape; else the shown one stays, fitted to it (Context.key), as a folder does."""
    meta = caches.models.metadata(options[st.session_state[keys.MODEL_LABEL]])
    own = own_folder(meta, names)
    if own is not None:  # a model trained on a folder brings it
        st.session_state[keys.DATASET] = own
        return
    shape, shown = image_shape(meta), st.session_state.get(keys.DATASET, FALLBACK_DATASET)
    if is_folder(shown) or dataset_shape(shown) == shape:  # a folder is read at any model's shape
        return
    fits = [name for name in names if dataset_shape(name) == shape]
    if fits:
        st.session_state[keys.DATASET] = meta.get("dataset") if meta.get("dataset") in fits else fits[0]
