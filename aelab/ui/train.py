"""Train: choose a model and data, train it in the background, watch it learn, stop it any time.

The page never trains: a jobs.TrainingJob does, in its own thread. While it runs, a fragment
polls it once a second and redraws only itself, so this page, the other pages and other
browser sessions stay usable; the job, kept in session state, is still there after a visit
to another page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from aelab import jobs
from aelab.checkpoints import SUFFIX
from aelab.data import MAX_ZIP_BYTES, MAX_ZIP_MEMBERS, DatasetUnavailable, ImageData, Splits, load_folder, load_zip
from aelab.images import enlarge, make_grid
from aelab.models import MODEL_TITLES, MODELS, ModelConfig, describe
from aelab.noise import NOISE_KINDS
from aelab.train import EpochLog, TrainConfig
from aelab.ui import state

JOB_KEY = "train_job"  # session state: this session's latest jobs.TrainingJob
OPEN_KEY = "train_open"  # set by "Open this model": go to the latent map on the next run
MAP_PAGE = "aelab/ui/map.py"
BUILTIN, FOLDER, ZIP = "Built-in dataset", "Folder on the server", "Upload a zip"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
NOISE_TITLES = {"none": "None", "gaussian": "Gaussian noise", "salt_pepper": "Salt and pepper", "mask": "Masked pixels"}
LATENT_SIZES = [2, 4, 8, 16, 20, 32, 64, 128]
BATCH_SIZES = [16, 32, 64, 128, 256, 512]
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
KEEP = {"persist_state": "session"}  # settings survive a visit to another page
OUTCOMES = {"finished": ("Finished", st.success), "early_stopped": ("Stopped early", st.success),
            "stopped": ("Stopped", st.info), "diverged": ("Diverged", st.error),
            jobs.ERROR: ("Training failed", st.error)}


# --- data ---------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Reading the images in the zip…", max_entries=4)
def zip_splits(data: bytes, name: str) -> Splits:
    """Shared by sessions and never mutated (training only indexes it)."""
    return load_zip(data, name)


@st.cache_resource(show_spinner="Reading the images in the folder…", max_entries=4, ttl=300)
def folder_splits(path: str) -> Splits:
    """Cached a few minutes only: the person may add images to the folder and try again."""
    return load_folder(Path(path))


class Choice(NamedTuple):
    """The chosen data: where it comes from, a short name for the run name, and what loads it."""

    source: str
    short: str
    handle: Any  # a dataset name, a folder path or an UploadedFile

    @property
    def dataset(self) -> str:
        """As TrainConfig.dataset records it: what the CLI's --dataset would take, or the zip's name."""
        return self.handle.name if self.source == ZIP else self.handle

    def load(self, split: str) -> ImageData:
        if self.source == BUILTIN:
            return state.load_data(self.handle, split)
        if self.source == FOLDER:
            return getattr(folder_splits(self.handle), split)
        return getattr(zip_splits(self.handle.getvalue(), self.handle.name), split)


def choose_data(disabled: bool) -> Choice | None:
    """The data widgets and what they found; None until usable data is chosen."""
    source = st.radio("Data", [BUILTIN, FOLDER, ZIP], key="train_source", disabled=disabled, horizontal=True, **KEEP)
    if source == BUILTIN:
        names, _ = state.dataset_options()
        name = st.selectbox("Dataset", names, key="train_dataset", disabled=disabled,
                            format_func=lambda n: state.DATASET_TITLES.get(n, n), **KEEP)
        choice = Choice(source, name, name)
    elif source == FOLDER:
        path = st.text_input("Folder of images", key="train_folder", disabled=disabled,
                             placeholder="/home/me/my_digits", help="Images in it, or in one subfolder per class "
                             "(the subfolder names become the labels). Read on the machine running aelab.", **KEEP)
        if not path.strip():
            return None
        folder = Path(path.strip()).expanduser()
        if not folder.is_dir():
            st.error(f"There is no folder at {folder}.")
            return None
        choice = Choice(source, folder.name, str(folder))
    else:
        upload = st.file_uploader("Zip of images", type=["zip"], key="train_zip", disabled=disabled,
                                  help=f"Images, optionally in one folder per class. At most {MAX_ZIP_MEMBERS:,} "
                                  f"files and {MAX_ZIP_BYTES // 2**20} MB unpacked.")
        if upload is None:
            return None
        choice = Choice(source, Path(upload.name).stem, upload)
    try:
        train = choice.load("train")
    except DatasetUnavailable as err:
        st.error(str(err))
        return None
    names = ", ".join(train.classes[:10]) + (", …" if len(train.classes) > 10 else "")
    classes = f"{len(train.classes)} classes ({names})"
    held_out = "" if source == BUILTIN else "; a fifth more are held out for testing"
    st.caption(f"{len(train):,} training images, " + (classes if train.classes else "unlabelled") + held_out + ".")
    return choice


# --- settings -----------------------------------------------------------------------------


def default_name(model: str, data: str, latent: int, beta: float | None, noise: str | None, level: float,
                 epochs: int) -> str:
    """A run name that says what was trained, e.g. vae-mnist-z20-b4-gaussian0.3-20ep."""
    parts = [model, re.sub(r"[^A-Za-z0-9._-]+", "-", data).strip("-.") or "data", f"z{latent}"]
    if beta is not None and beta != 1.0:
        parts.append(f"b{beta:g}")
    if noise:
        parts.append(f"{noise}{level:g}")
    return "-".join([*parts, f"{epochs}ep"])


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a run's file name in runs/, or None when it can."""
    if not NAME_RE.fullmatch(name):
        return ("Use 1 to 80 letters, digits, '.', '-' or '_', starting with a letter or digit "
                "(no spaces or path separators).")
    if name.endswith(".resume"):
        return "Names ending in .resume are kept for resume states."
    if name in {p.stem for p in state.shipped_dir().glob(f"*{SUFFIX}")}:  # two "vae" in the picker would confuse
        return f"{name} is the name of a model that ships with aelab: choose another."
    return None


def settings(busy: bool) -> None:
    """Every choice, then the Train button; a started job goes into session state and the page reruns."""
    model = st.selectbox("Model", list(MODELS), index=list(MODELS).index("vae"), key="train_model",
                         format_func=MODEL_TITLES.get, disabled=busy, **KEEP,
                         help="The MLP VAE trains in seconds on a CPU; the convolutional models are "
                         "sharper but about ten times slower.")
    variational = MODELS[model].is_variational
    defaults = ModelConfig.for_model(model)
    chosen = choose_data(busy)
    latent = st.select_slider("Latent size", LATENT_SIZES, value=defaults.latent_dim, key=f"train_latent_{model}",
                              disabled=busy, help="How many numbers each image is squeezed into.", **KEEP)
    beta, warmup = None, 0.0
    if variational:
        beta = st.number_input("β (weight of the KL term)", 0.0, 50.0, 1.0, 0.5, key="train_beta", disabled=busy,
                               help="1 is a standard VAE; larger values give a β-VAE: a smoother, more "
                               "disentangled latent space and blurrier reconstructions.", **KEEP)
        warmup = st.number_input("KL warm-up (epochs)", 0.0, 100.0, 0.0, 1.0, key="train_warmup", disabled=busy,
                                 help="β ramps up from 0 over this many epochs: helps avoid unused latent "
                                 "dimensions (posterior collapse).", **KEEP)
    noise = st.selectbox("Denoising", ["none", *NOISE_KINDS], key="train_noise", format_func=NOISE_TITLES.get,
                         disabled=busy, help="Train on corrupted inputs to reconstruct the clean images.", **KEEP)
    noise = None if noise == "none" else noise
    level = 0.3
    if noise:
        level = st.slider("Noise level", 0.05, 0.9, 0.3, 0.05, key="train_noise_level", disabled=busy,
                          help="Standard deviation (Gaussian) or fraction of pixels hit.", **KEEP)
    epochs = int(st.number_input("Epochs", 1, 500, 10, key="train_epochs", disabled=busy,
                                 help="Passes over the training images.", **KEEP))
    with st.expander("Optimiser and stopping"):
        batch_size = st.select_slider("Batch size", BATCH_SIZES, value=128, key="train_batch", disabled=busy, **KEEP)
        lr = st.select_slider("Learning rate", LEARNING_RATES, value=3e-3, key="train_lr", disabled=busy,
                              format_func=lambda v: f"{v:g}", **KEEP,
                              help="Too high and the loss explodes (the run stops with a message).")
        patience = int(st.number_input("Early-stopping patience (epochs)", 0, 100, 5, key="train_patience",
                                       disabled=busy, help="Stop when the validation loss has not improved for "
                                       "this many epochs; 0 never stops early.", **KEEP))
        seed = int(st.number_input("Random seed", 0, 2**31 - 1, 0, key="train_seed", disabled=busy, **KEEP))

    suggested = default_name(model, chosen.short if chosen else "data", latent, beta, noise, level, epochs)
    if st.session_state.get("train_name") in (None, "", st.session_state.get("train_name_default")):
        st.session_state["train_name"] = suggested  # follow the settings until the person edits the name
    st.session_state["train_name_default"] = suggested
    name = st.text_input("Run name", key="train_name", disabled=busy, **KEEP,
                         help=f"The model is saved as {state.runs_dir() / '<name>'}{SUFFIX} and listed in the "
                         "sidebar's model picker.").strip()
    problem = name_problem(name)
    if problem and not busy:
        st.error(problem)
    out = state.runs_dir() / f"{name}{SUFFIX}"
    replace = True
    if not problem and not busy and out.exists():
        replace = st.checkbox(f"Replace my existing model {name}", key="train_replace")
    if not st.button("Train", type="primary", icon=":material/play_arrow:", key="train_start",
                     disabled=busy or chosen is None or bool(problem) or not replace):
        return
    try:
        model_cfg = ModelConfig.for_model(model, latent_dim=latent, beta=beta)
        cfg = TrainConfig(model=model_cfg, dataset=chosen.dataset, epochs=epochs, batch_size=batch_size, lr=lr,
                          seed=seed, kl_warmup_epochs=warmup, noise=noise, noise_level=level, patience=patience)
        st.session_state[JOB_KEY] = jobs.submit(cfg, chosen.load("train"), out, chosen.load("test"))
    except (DatasetUnavailable, jobs.JobRefused, ValueError) as err:
        st.error(str(err))
        return
    st.rerun()


# --- the job --------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def loss_figure(history: tuple[EpochLog, ...], variational: bool) -> go.Figure:
    """Train and validation loss per epoch; for VAEs also its two terms, which differ in scale."""
    epochs = [h.epoch for h in history]
    panels = [("loss", "Loss (nats per image)")] + ([("recon", "Reconstruction"), ("kl", "KL")] if variational else [])
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for _, title in panels])
    for col, (term, _) in enumerate(panels, start=1):
        for part, dash, colour in (("train", "solid", "#1f77b4"), ("val", "dash", "#ff7f0e")):
            fig.add_trace(go.Scatter(x=epochs, y=[getattr(h, part)[term] for h in history], mode="lines+markers",
                                     name="training" if part == "train" else "validation", legendgroup=part,
                                     showlegend=col == 1, line=dict(dash=dash, color=colour)), row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3))
    return fig


def gallery(snap: jobs.JobState, denoising: bool) -> None:
    """The fixed validation images above their latest reconstructions."""
    rows = [snap.originals] + ([snap.inputs] if denoising else [])
    if snap.reconstructions is not None:
        rows.append(snap.reconstructions)
    grid = make_grid(np.concatenate(rows), ncol=len(snap.originals))
    what = "validation images" + (", the noisy inputs the model sees" if denoising else "")
    if snap.reconstructions is None:
        caption = f"Top: {what}. Their reconstructions appear after the first epoch."
    else:
        caption = f"Top: {what}; bottom: reconstructions after epoch {snap.preview_epoch}."
    st.image(enlarge(grid, 3), caption=caption, clamp=True)


def board(job: jobs.TrainingJob, snap: jobs.JobState) -> None:
    """What the job is, how far it got, its loss curves and reconstructions."""
    cfg = job.cfg
    extras = [f"β {cfg.model.beta:g}" if MODELS[cfg.model.name].is_variational else "",
              f"KL warm-up {cfg.kl_warmup_epochs:g} epochs" if cfg.kl_warmup_epochs else "",
              f"denoising {NOISE_TITLES[cfg.noise].lower()} {cfg.noise_level:g}" if cfg.noise else ""]
    st.markdown(f"**{job.out.stem}**: {describe(cfg.model)}")
    st.caption(" · ".join(x for x in [f"{Path(cfg.dataset).name}: {job.n_images - job.n_val:,} images to learn from, "
                                      f"{job.n_val:,} to validate", f"{cfg.epochs} epochs", f"batch {cfg.batch_size}",
                                      f"learning rate {cfg.lr:g}", *extras] if x))
    if not snap.finished:
        if snap.n_batches == 0:
            text = "Starting…"
        else:
            text = (f"Epoch {snap.epoch} of {snap.epochs}, batch {snap.batch} of {snap.n_batches}"
                    + (f" · loss {snap.loss:.1f}" if snap.loss is not None else "")
                    + f" · {duration(snap.elapsed)} elapsed")
            if snap.seconds_left is not None:
                text += f", about {duration(snap.seconds_left)} left"
        if snap.phase == "testing":
            text = "Measuring the test metrics…"
        elif snap.stop_requested:
            text = "Stopping after this batch…"
        st.progress(snap.fraction, text=text)
    if snap.history:
        st.plotly_chart(loss_figure(snap.history, MODELS[cfg.model.name].is_variational),
                        config={"displaylogo": False})
    gallery(snap, cfg.noise is not None)


def live(job: jobs.TrainingJob) -> None:
    """Redrawn every second while the job runs; one full rerun when it ends stops the polling."""
    snap = job.snapshot()
    if snap.finished:
        st.rerun()
    st.button("Stop", key="train_stop", icon=":material/stop:", on_click=job.stop, disabled=snap.stop_requested,
              help="Ends training after the current batch and keeps the best model so far.")
    board(job, snap)
    st.caption("You can use the other pages meanwhile: training goes on, and this page picks it up again.")


def open_model(label: str) -> None:
    """Runs before the script, so the sidebar's picker is created with the new choice."""
    st.session_state["model_label"] = label
    st.session_state[OPEN_KEY] = True


def outcome(job: jobs.TrainingJob, snap: jobs.JobState) -> None:
    """How the run ended, its test metrics and the way to open the model."""
    title, show = OUTCOMES.get(snap.status, (snap.status, st.info))
    detail = snap.error if snap.status == jobs.ERROR else snap.result.message
    show(f"**{title}** after {duration(snap.elapsed)}. {detail}")
    path = snap.result.path if snap.result else None
    if path is None or not path.exists():
        return
    if snap.metrics:
        m = snap.metrics
        facts = [f"reconstruction {m['recon']:.1f} nats"] + ([f"−ELBO {m['nelbo']:.1f} nats"] if "nelbo" in m else [])
        facts.append(f"{m['active_units']} of {len(m['latent_variance'])} latent dimensions in use")
        st.caption(f"On {m['dataset']} ({m['images']:,} images): " + ", ".join(facts) + ".")
    st.button("Open this model", type="primary", icon=":material/open_in_new:", key="train_open_model",
              on_click=open_model, args=(state.label_for(path),),
              help="Selects it in the sidebar and shows its latent map.")


# --- the page -------------------------------------------------------------------------------

if st.session_state.pop(OPEN_KEY, False):
    st.switch_page(MAP_PAGE)

job: jobs.TrainingJob | None = st.session_state.get(JOB_KEY)
busy = job is not None and job.running

st.title("Train a model")
st.caption("Pick a model and some images, press Train and watch it learn to reconstruct them. "
           "The defaults (an MLP VAE, 10 epochs) take under a minute on 5,000 MNIST images on a 2-core CPU.")
left, right = st.columns([1, 2], gap="large")
with left:
    settings(busy)
with right:
    if job is None:
        st.info("Training shows its progress, loss curves and reconstructions here. The model is saved after "
                "every epoch that improves it, so stopping early still leaves a usable model.",
                icon=":material/model_training:")
    elif busy:
        st.fragment(run_every=1.0)(live)(job)
    else:
        snapshot = job.snapshot()
        outcome(job, snapshot)
        board(job, snapshot)
