"""Train: choose a model and data, train it in the background, watch it learn, stop it any time.

The page never trains: a jobs.TrainingJob does, in its own thread. While it runs, a fragment
polls it once a second and redraws only itself, so this page, the other pages and other
browser sessions stay usable; the job, kept in session state, is still there after a visit
to another page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple, TypedDict

import streamlit as st

from aelab import serving
from aelab.data.dataset import DatasetUnavailable, ImageData, Splits
from aelab.data.folders import DIGITS, FOLDER_SIDES, picture_options
from aelab.data.registry import dataset_shape, dataset_title
from aelab.models.autoencoders import MODELS
from aelab.models.config import DIGIT_SHAPE, MODEL_TITLES, ModelConfig
from aelab.models.noise import LEVEL_HELP, NOISE_KINDS, NOISE_TITLES
from aelab.store.checkpoints import SUFFIX
from aelab.training import jobs
from aelab.training.runs import DEFAULT_MODEL, chosen_name, default_name, name_problem, run_path, runs_dir, shipped_dir
from aelab.training.trainer import TrainConfig
from aelab.ui import caches, keys, loading, navigation
from aelab.ui.context import dataset_options, offline_notice
from aelab.ui.context import settings as serving_settings
from aelab.ui.text import PICTURE_HELP, PICTURE_MODES, markdown_safe
from aelab.ui.training import (
    OPEN_KEY,
    board,
    created_runs,
    live,
    name_suggestions,
    outcome,
    owner_watch,
    remember_written,
    session_tag,
)

BUILTIN, FOLDER, ZIP = "Built-in dataset", "Folder on the server", "Upload a zip"
NO_NOISE = "none"
QUICK_EPOCHS = 10  # the page's suggestion: a first run in the browser should end within a minute
LATENT_SIZES = [2, 4, 8, 16, 20, 32, 64, 128]
BATCH_SIZES = [16, 32, 64, 128, 256, 512]
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]


class Kept(TypedDict):
    persist_state: Literal["session"]  # typed: each widget's signature checks **KEEP


KEEP: Kept = {"persist_state": "session"}  # settings survive a visit to another page


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
        inside = (
            ""
            if served.allowed_folders is None
            else f", inside {' or '.join(str(folder) for folder in served.allowed_folders)}"
        )
        path = st.text_input(
            "Folder of images",
            key="train_folder",
            disabled=disabled,
            placeholder=str(Path(*served.allowed_folders[:1], "my_digits"))
            if served.allowed_folders
            else "/home/me/my_digits",
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
        splits = loading.load(
            str(folder),
            str(folder),
            lambda loader: loading.folder_splits(
                str(folder), limits, **shape, _progress=loader.progress, _should_stop=loader.should_stop
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


# --- settings -----------------------------------------------------------------------------


def settings(busy: bool) -> None:
    """Every choice, then the Train button; a started job goes into session state and the page reruns."""
    served = serving_settings()
    model = st.selectbox(
        "Model",
        list(MODELS),
        index=list(MODELS).index(DEFAULT_MODEL),
        key="train_model",
        format_func=MODEL_TITLES.__getitem__,
        disabled=busy,
        **KEEP,
        help="The MLP VAE trains in seconds on a CPU; the convolutional models are sharper but about ten times slower.",
    )
    variational = MODELS[model].is_variational
    defaults = ModelConfig.for_model(model)
    chosen = choose_data(busy, served)
    latent = st.select_slider(
        "Latent size",
        LATENT_SIZES,
        value=defaults.latent_dim,
        key=f"train_latent_{model}",
        disabled=busy,
        help="How many numbers each image is squeezed into.",
        **KEEP,
    )
    beta, warmup = None, TrainConfig.kl_warmup_epochs
    if variational:
        beta = st.number_input(
            "β (weight of the KL term)",
            0.0,
            50.0,
            defaults.beta,
            0.5,
            key="train_beta",
            disabled=busy,
            help="1 is a standard VAE; larger values give a β-VAE: a smoother, more "
            "disentangled latent space and blurrier reconstructions.",
            **KEEP,
        )
        warmup = st.number_input(
            "KL warm-up (epochs)",
            0.0,
            100.0,
            TrainConfig.kl_warmup_epochs,
            1.0,
            key="train_warmup",
            disabled=busy,
            help="β ramps up from 0 over this many epochs: helps avoid unused latent dimensions (posterior collapse).",
            **KEEP,
        )
    denoising = st.selectbox(
        "Denoising",
        [NO_NOISE, *NOISE_KINDS],
        key="train_noise",
        disabled=busy,
        **KEEP,
        format_func=lambda kind: NOISE_TITLES.get(kind, "None"),
        help="Train on corrupted inputs to reconstruct the clean images.",
    )
    noise = None if denoising == NO_NOISE else denoising
    level = TrainConfig.noise_level
    if noise:
        level = st.slider(
            "Noise level",
            0.05,
            0.9,
            TrainConfig.noise_level,
            0.05,
            key="train_noise_level",
            disabled=busy,
            help=LEVEL_HELP[noise],
            **KEEP,
        )
    epochs = int(
        st.number_input(
            "Epochs",
            1,
            500,
            QUICK_EPOCHS,
            key="train_epochs",
            disabled=busy,
            help="Passes over the training images.",
            **KEEP,
        )
    )
    with st.expander("Optimiser and stopping"):
        batch_size = st.select_slider(
            "Batch size", BATCH_SIZES, value=TrainConfig.batch_size, key="train_batch", disabled=busy, **KEEP
        )
        lr = st.select_slider(
            "Learning rate",
            LEARNING_RATES,
            value=TrainConfig.lr,
            key="train_lr",
            disabled=busy,
            format_func=lambda v: f"{v:g}",
            **KEEP,
            help="Too high and the loss explodes (the run stops with a message).",
        )
        patience = int(
            st.number_input(
                "Early-stopping patience (epochs)",
                0,
                100,
                TrainConfig.patience,
                key="train_patience",
                disabled=busy,
                help="Stop when the validation loss has not improved for this many epochs; 0 never stops early.",
                **KEEP,
            )
        )
        seed = int(
            st.number_input("Random seed", 0, 2**31 - 1, TrainConfig.seed, key="train_seed", disabled=busy, **KEEP)
        )
    channels, side, _ = chosen.shape if chosen else DIGIT_SHAPE
    cfg = TrainConfig(
        model=ModelConfig.for_model(model, latent_dim=latent, beta=beta, channels=channels, side=side),
        dataset=chosen.dataset if chosen else "data",
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        kl_warmup_epochs=warmup,
        noise=noise,
        noise_level=level,
        patience=patience,
    )

    # The name follows the settings until the person types one; the file is named from `cfg`, the run trained.
    suggested = default_name(cfg, chosen.short if chosen else "data", session_tag() if served.served else None)
    suggestions = name_suggestions(suggested)
    if chosen_name(st.session_state.get("train_name") or "", suggested, suggestions) == suggested:
        st.session_state["train_name"] = suggested
    name = chosen_name(
        st.text_input(
            "Run name",
            key="train_name",
            disabled=busy,
            **KEEP,
            help=f"The model is saved as {runs_dir() / '<name>'}{SUFFIX} and listed in the sidebar's model picker.",
        ),
        suggested,
        suggestions,
    )
    out = run_path(name)
    problem = name_problem(name) or serving.replace_problem(out, created_runs(), served, shipped_dir())
    if problem and not busy:
        st.error(problem)
    replace = True
    if not problem and not busy and out.exists():
        replace = st.checkbox(f"Replace my existing model {name}", key="train_replace")
    usable = not busy and chosen is not None and not problem and replace
    if (
        not st.button("Train", type="primary", icon=":material/play_arrow:", key="train_start", disabled=not usable)
        or not usable
        or chosen is None
    ):
        return
    try:
        st.session_state[keys.TRAIN_JOB] = jobs.submit(
            cfg, chosen.load("train"), out, chosen.load("test"), owner_watch(served.session_timeout)
        )
    except (DatasetUnavailable, jobs.JobRefused, ValueError) as err:
        st.error(str(err))
        return
    st.rerun()


# --- the page -------------------------------------------------------------------------------

if st.session_state.pop(OPEN_KEY, False):
    st.switch_page(navigation.MAP.script)

job: jobs.TrainingJob | None = st.session_state.get(keys.TRAIN_JOB)
busy = job is not None and job.snapshot().running
if job is not None and not busy:
    remember_written(job.snapshot())

st.title("Train a model")
st.caption(
    "Pick a model and some images, press Train and watch it learn to reconstruct them. "
    f"The defaults (an MLP VAE, {QUICK_EPOCHS} epochs) take under a minute on 5,000 MNIST images on a "
    "2-core CPU."
)
left, right = st.columns([1, 2], gap="large")
with left:
    settings(busy)
with right:
    if job is None:
        st.info(
            "Training shows its progress, loss curves and reconstructions here. The model is saved after "
            "every epoch that improves it, so stopping early still leaves a usable model.",
            icon=":material/model_training:",
        )
    elif busy:
        st.fragment(run_every=1.0)(live)(job)
    else:
        snapshot = job.snapshot()
        outcome(snapshot)
        board(job, snapshot)
