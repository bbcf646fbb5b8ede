"""The Train page's form: the model, its size and losses, the optimiser, the run's name, and the Train button.

Pressing Train submits a jobs.TrainingJob, keeps it in session state and reruns the page, which then shows the job
(ui.training); the data part of the form is ui.train_data.
"""

from __future__ import annotations

import streamlit as st

from aelab import serving
from aelab.data.dataset import DatasetUnavailable
from aelab.models.autoencoders import MODELS
from aelab.models.config import DIGIT_SHAPE, MODEL_TITLES, ModelConfig
from aelab.models.noise import LEVEL_HELP, NOISE_KINDS, NOISE_TITLES
from aelab.store.checkpoints import SUFFIX
from aelab.training import jobs
from aelab.training.config import TrainConfig
from aelab.training.runs import DEFAULT_MODEL, chosen_name, default_name, name_problem, run_path, runs_dir, shipped_dir
from aelab.ui import keys
from aelab.ui.context import settings as serving_settings
from aelab.ui.keys import KEEP
from aelab.ui.train_data import choose_data
from aelab.ui.training import created_runs, name_suggestions, owner_watch, session_tag

NO_NOISE = "none"
QUICK_EPOCHS = 10  # the page's suggestion: a first run in the browser should end within a minute
LATENT_SIZES = [2, 4, 8, 16, 20, 32, 64, 128]
BATCH_SIZES = [16, 32, 64, 128, 256, 512]
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]


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
            help=f"The model is saved as {'<name>' if served.served else runs_dir() / '<name>'}{SUFFIX}"
            + (" in the server's runs folder" if served.served else "")
            + " and listed in the sidebar's model picker.",
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
        replace = st.checkbox(  # the name in the help, not the label: a long one was cut in the form's column
            "Replace my existing model",
            key="train_replace",
            help=f"A model named {name} exists already: tick to train a new one in its place.",
        )
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
