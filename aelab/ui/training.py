"""The Train page's view of a job: progress, loss curves, reconstructions, and how it ended."""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from aelab.images.render import enlarge, make_grid
from aelab.models.autoencoders import MODELS
from aelab.models.config import describe
from aelab.models.noise import denoising_note
from aelab.serving import MAX_SELECTIONS, OwnerWatch, evict_oldest
from aelab.training import jobs
from aelab.training.config import Status, epochs_trained
from aelab.training.runs import label_for
from aelab.ui import charts, keys
from aelab.ui.text import duration, epochs_text

OPEN_KEY = "train_open"  # set by "Open this model": go to the latent map on the next run
CREATED_KEY = "train_created"  # run files this session's jobs wrote: the ones it may replace when served
TAG_KEY = "train_tag"  # this session's suffix for suggested run names when served
SUGGESTED_KEY = "train_suggested"  # run names the page suggested (not the person's own)


def created_runs() -> set[Path]:
    return st.session_state.setdefault(CREATED_KEY, set())


def remember_written(snap: jobs.JobState) -> None:
    """Count a finished job's file as this session's, once it really wrote one."""
    if snap.result is not None and snap.result.path is not None:
        created_runs().add(snap.result.path)


def session_tag() -> str:
    """A short suffix of this session's own, so two people's suggested run names differ."""
    return st.session_state.setdefault(TAG_KEY, secrets.token_hex(2))


def name_suggestions(suggested: str) -> dict[str, None]:
    """The names the page has suggested in this session, `suggested` the newest; at most MAX_SELECTIONS."""
    names = st.session_state.setdefault(SUGGESTED_KEY, {})
    names.pop(suggested, None)
    names[suggested] = None
    evict_oldest(names, MAX_SELECTIONS)
    return names


def owner_watch(timeout: float | None) -> OwnerWatch:
    """A watch on this browser session: alive while the server still has it connected, or beating."""
    run = get_script_run_ctx()
    if run is None:
        raise RuntimeError("A training job's owner is the browser session of a script run: there is none here.")
    session = run.session_id

    def connected() -> bool:
        return Runtime.exists() and bool(Runtime.instance().is_active_session(session))

    return OwnerWatch(timeout, alive=connected)


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


def progress_text(snap: jobs.JobState) -> str:
    if snap.phase == "testing":
        return "Measuring the test metrics…"
    if snap.stop_requested:
        return "Stopping after this batch…"
    if snap.n_batches == 0:
        return "Starting…"
    text = (
        f"Epoch {snap.epoch} of {snap.epochs}, batch {snap.batch} of {snap.n_batches}"
        + (f" · loss {snap.loss:.1f}" if snap.loss is not None else "")
        + f" · {duration(snap.elapsed)} elapsed"
    )
    return text + (f", about {duration(snap.seconds_left)} left" if snap.seconds_left is not None else "")


def board(job: jobs.TrainingJob, snap: jobs.JobState) -> None:
    """What the job is, how far it got, its loss curves and reconstructions."""
    cfg, out = job.cfg, job.out
    if cfg is None or out is None:
        raise RuntimeError("Only a started training job has settings to show.")
    variational = MODELS[cfg.model.name].is_variational
    extras = [
        f"β {cfg.model.beta:g}" if variational else "",
        f"KL warm-up {cfg.kl_warmup_epochs:g} epochs" if cfg.kl_warmup_epochs else "",
        denoising_note(cfg.to_dict()) if cfg.noise else "",
    ]
    st.markdown(f"**{out.stem}**: {describe(cfg.model)}")
    st.caption(
        " · ".join(
            x
            for x in [
                f"{Path(cfg.dataset).name}: {job.n_images - job.n_val:,} images to learn from, "
                f"{job.n_val:,} to validate",
                f"{cfg.epochs} epochs",
                f"batch {cfg.batch_size}",
                f"learning rate {cfg.lr:g}",
                *extras,
            ]
            if x
        )
    )
    if not snap.finished:
        st.progress(snap.fraction, text=progress_text(snap))
    if snap.history:
        st.plotly_chart(charts.loss_curves(snap.history, variational), config={"displaylogo": False})
    gallery(snap, cfg.noise is not None)


def live(job: jobs.TrainingJob) -> None:
    """Redrawn every second while the job runs; one full rerun when it ends stops the polling."""
    snap = job.snapshot()
    if snap.finished:
        st.rerun()
    st.button(
        "Stop",
        key="train_stop",
        icon=":material/stop:",
        on_click=job.stop,
        disabled=snap.stop_requested,
        help="Ends training after the current batch and keeps the best model so far.",
    )
    board(job, snap)
    st.caption("You can use the other pages meanwhile: training goes on, and this page picks it up again.")


def open_model(label: str) -> None:
    """Runs before the script, so the sidebar's picker is created with the new choice."""
    st.session_state[keys.MODEL_LABEL] = label
    st.session_state[OPEN_KEY] = True


def outcome(snap: jobs.JobState) -> None:
    """How the run ended, its test metrics and the way to open the model."""
    failed = snap.status == jobs.JobStatus.ERROR
    completed = isinstance(snap.status, Status) and snap.status.completed
    say = st.error if failed or snap.status == Status.DIVERGED else st.success if completed else st.info
    trained = f" · {epochs_text(epochs_trained(list(snap.history)))}" if snap.history else ""
    message = snap.error if failed or snap.result is None else snap.result.message
    say(f"**{snap.label}** after {duration(snap.elapsed)}{trained}.  \n{message}")
    path = snap.result.path if snap.result else None
    if path is None or not path.exists():
        return
    if snap.metrics:
        m = snap.metrics
        facts = [f"reconstruction {m['recon']:.1f} nats"] + ([f"−ELBO {m['nelbo']:.1f} nats"] if "nelbo" in m else [])
        facts.append(f"{m['active_units']} of {len(m['latent_variance'])} latent dimensions in use")
        st.caption(f"On {m['dataset']} ({m['images']:,} images): " + ", ".join(facts) + ".")
    st.button(
        "Open this model",
        type="primary",
        icon=":material/open_in_new:",
        key="train_open_model",
        on_click=open_model,
        args=(label_for(path),),
        help="Selects it in the sidebar and shows its latent map.",
    )
