"""The sidebar's choice of model and dataset, and the `Context` every page works on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import streamlit as st

from aelab import serving
from aelab.data.dataset import DatasetUnavailable
from aelab.data.registry import FALLBACK_DATASET, dataset_shape, fitted_note
from aelab.data.sources import STREAMED, folder_shape
from aelab.models.config import ModelConfig, OwnModelConfig, from_header
from aelab.store.checkpoints import Checkpoint, CheckpointError, image_shape
from aelab.training.runs import DEFAULT_MODEL, label_for, runs_dir, shipped_dir
from aelab.ui import caches, data_choice, keys, navigation, uploads
from aelab.ui.caches.key import ModelData
from aelab.ui.model_card import card_facts, command_title, model_title
from aelab.ui.text import UNITS, dataset_option

if TYPE_CHECKING:  # a page drawn from the disk cache never imports torch: see Context
    import torch

    from aelab.data.dataset import ImageData
    from aelab.explore import encoding

CHECKPOINT_FILES = "checkpoint_files"  # the sidebar's uploader of checkpoints
TRAIN_HINT = "`python -m aelab train --model vae --out runs/vae.safetensors`"
T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """The model and test data the sidebar selected: their model, data, labels and codes are read through it
    (a page stops saying why when they cannot be loaded); all else is `caches.<topic>.<function>(ctx.key, ...)`.
    Only the checkpoint's header is read up front: the model and the images are loaded on first use, so a page
    whose results are in the disk cache never loads them, nor imports torch."""

    path: str
    digest: str  # content hash: the cache key for everything computed from this model
    meta: dict  # the checkpoint's validated metadata
    dataset: str
    split: str = "test"
    whole: bool = False  # every file of a streamed split, not the part held: the latent map's (`of_split`)

    @property
    def key(self) -> ModelData:
        """What every cache computed from this model and data is keyed by (aelab.ui.caches)."""
        native = dataset_shape(self.dataset)
        if native is None:  # a folder or zip: its files made pictures of the model's shape
            fitted = folder_shape(self.meta, self.dataset, self.shape)
        else:
            fitted = None if native == self.shape else self.shape
        return ModelData(self.path, self.digest, self.dataset, self.split, fitted, self.whole)

    def of_split(self, split: str) -> Context:
        """This model on `split` of its dataset, all of it: a streamed split's every file, not the part held."""
        return replace(self, split=split, whole=caches.datasets.streamed(replace(self, split=split, whole=False).key))

    @property
    def config(self) -> ModelConfig | OwnModelConfig:
        """The model's description, from the header: no weights loaded."""
        return from_header(self.meta["model"])

    @property
    def is_variational(self) -> bool:
        return self.config.variational

    @property
    def checkpoint(self) -> Checkpoint:
        return _loaded(lambda: caches.models.load_model(self.path, self.digest))

    @property
    def model(self):
        return self.checkpoint.model

    @property
    def data(self) -> ImageData:
        return _loaded(lambda: caches.datasets.load_data(*self.key.data))

    @property
    def images(self) -> torch.Tensor:
        """The data's (N, C, H, W) images, held in memory."""
        return _loaded(lambda: caches.datasets.images(*self.key.data))

    def rows(self, index: np.ndarray | list[int]) -> torch.Tensor:
        """The data's images at rows `index` (k, C, H, W): of a whole stream, decoded from their files now."""
        return _loaded(lambda: caches.datasets.rows(self.key, tuple(int(i) for i in index)))

    def labels(self) -> tuple[np.ndarray, list[str]]:
        """Every test image's label and the class names, read without loading the images."""
        return _loaded(lambda: caches.datasets.labels(*self.key.data))

    def codes(self) -> encoding.Codes:
        return _loaded(lambda: caches.codes.codes(self.key))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the model's images, from its header."""
        return self.config.image_shape

    def encode(self, pictures: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Codes of pictures (uploads: one or several) with this model, converted to its shape when they differ."""
        from aelab.explore import encoding
        from aelab.images import render

        return encoding.encode(self.model, render.fit_all(pictures, self.shape))

    def decode(self, z: np.ndarray) -> np.ndarray:
        from aelab.explore import encoding

        return encoding.decode(self.model, z)

    def with_checkpoint(self, checkpoint: Checkpoint) -> Context:
        """Another model on the same data."""
        return Context(str(checkpoint.path), checkpoint.digest, checkpoint.meta, self.dataset, self.split)


def _loaded(load: Callable[[], T]) -> T:
    """What `load` returns; when the model or the dataset cannot be loaded, the page stops saying why."""
    try:
        return load()
    except (CheckpointError, DatasetUnavailable, OSError) as err:
        st.error(settings().public(str(err)))
        st.stop()


def settings() -> serving.Rules:
    """The operator's settings (aelab.settings) applied to this server's address (aelab.serving).
    app.py stops with one line when they are unusable."""
    return serving.rules(st.get_option("server.address"))


def require_sign_in() -> None:
    """With an [auth] section in secrets.toml, only people signed in through Streamlit's own st.login
    (an OpenID Connect provider) get past here; without one, everybody does, as before."""
    if not (st.secrets.load_if_toml_exists() and "auth" in st.secrets) or st.user.is_logged_in:
        return
    st.title("aelab")
    st.write("Sign in to explore and train models here.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
    st.stop()


def model_options(warn: bool = False, shape: tuple[int, int, int] | None = None) -> dict[str, str]:
    """Label -> path of every readable checkpoint (of models taking `shape` images, when given), the default
    first; `warn` reports broken files."""
    options = {}
    for item in caches.models.listing():
        if item.meta is None:  # unreadable: its error says why
            if warn:
                skipped = settings().public(f"Skipped {item.path.name}: {item.error}")
                st.sidebar.warning(skipped, icon=":material/warning:")
            continue
        if shape is None or image_shape(item.meta) == shape:
            options[label_for(item.path)] = str(item.path)
    for label, path in keys.session_models().items():  # uploaded in this session, checked when they came
        if shape is None or image_shape(caches.models.metadata(path)) == shape:
            options[label] = path
    return dict(sorted(options.items(), key=lambda kv: kv[0] != DEFAULT_MODEL))


def sidebar() -> None:
    """Model and dataset pickers plus the model card; stores the choice in session state."""
    with st.sidebar:
        errors = uploads.take_checkpoints(st.session_state.get(CHECKPOINT_FILES) or [])  # listed below at once
        options = model_options(warn=True)
        if not options:
            st.error(settings().public(f"No checkpoints found in {shipped_dir()} or {runs_dir()}."))
            st.page_link(navigation.TRAIN.script, label="Train one here", icon=navigation.TRAIN.icon)
            st.caption(f"or: {TRAIN_HINT}")
            st.session_state.pop(keys.MODEL_PATH, None)
            return
        rules = settings()
        names, note = data_choice.sidebar_datasets(rules, [caches.models.metadata(path) for path in options.values()])
        keys.read_link(options, {rules.public(name): name for name in names})
        label = st.selectbox(
            "Model", list(options), key=keys.MODEL_LABEL, on_change=data_choice.follow_model, args=(options, names)
        )
        st.session_state[keys.MODEL_PATH] = options[label]
        meta = caches.models.metadata(options[label])
        if keys.DATASET not in st.session_state:  # the first model shown brings its folder, as a picked one does
            st.session_state[keys.DATASET] = data_choice.own_folder(meta, names) or names[0]
        st.selectbox("Dataset (test split)", names, key=keys.DATASET, format_func=dataset_option)
        data_choice.notes(note, meta, names, rules)
        ctx = context(quiet=True)
        if ctx is not None:
            model_card(ctx.meta, ctx.dataset)
            keys.show_in_link(label, rules.public(ctx.dataset), ctx.key, len(ctx.labels()[0]))
        with st.expander("Add a checkpoint", expanded=bool(errors)):
            st.file_uploader(
                "aelab checkpoints (.safetensors)",
                type=["safetensors"],
                accept_multiple_files=True,
                key=CHECKPOINT_FILES,
                help="Checked like the files on disk and kept for this session: "
                "it appears in the Model list as 'name (uploaded)'.",
            )
            for message in errors:
                st.error(settings().public(message), icon=":material/error:")


def model_card(meta: dict, shown: str) -> None:
    """What the checkpoint's header says: read without loading the model."""
    st.markdown(f"**{model_title(meta)}**")
    public = settings().public  # a served app's card names no folder of the server's
    st.caption(public("  \n".join(f"{k}: {v}" for k, v in card_facts(meta, shown).items())), help=UNITS)
    if meta.get("command"):
        with st.expander(command_title(meta)):
            # Inline code, not st.code: its highlighter is a large script for every first page.
            st.markdown(f"``{public(meta['command'])}``")


def context(quiet: bool = False) -> Context | None:
    """The chosen model (its header read) and data, or None after saying (unless quiet) what is missing."""
    path = st.session_state.get(keys.MODEL_PATH)
    dataset = st.session_state.get(keys.DATASET, FALLBACK_DATASET)
    if not path:
        if not quiet:
            st.warning("No model is available yet: train one on the Train page or with the CLI.")
            st.page_link(navigation.TRAIN.script, label="Go to the Train page", icon=navigation.TRAIN.icon)
        return None
    try:
        return Context(path, caches.models.digest(path), caches.models.metadata(path), dataset)
    except (CheckpointError, OSError) as err:
        if not quiet:
            st.error(settings().public(str(err)))
        return None


def require_context() -> Context:
    """The current model and data; without them the page stops here, `context` having said why.

    Every page showing the offline fallback says so at its top, not only in the sidebar.
    """
    ctx = context()
    if ctx is None:
        st.stop()
    data_choice.offline_notice(ctx.dataset)
    native = dataset_shape(ctx.dataset)
    if ctx.key.shape is not None and native is not None:
        st.caption(fitted_note(ctx.dataset, native, ctx.key.shape) + ".")
    if native is None or ctx.dataset in STREAMED:  # a folder's conversion, or the part of a stream held
        if note := data_choice.data_note(ctx.dataset, ctx.data.note, ctx.meta):
            st.caption(settings().public(note))
    return ctx
