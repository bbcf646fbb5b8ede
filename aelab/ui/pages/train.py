"""Train: choose a model and data, train it in the background, watch it learn, stop it any time.

The page never trains: a jobs.TrainingJob does, in its own thread. While it runs, a fragment
polls it once a second and redraws only itself, so this page, the other pages and other
browser sessions stay usable; the job, kept in session state, is still there after a visit
to another page.
"""

from __future__ import annotations

import streamlit as st

from aelab.training import jobs
from aelab.ui import keys, navigation
from aelab.ui.train_form import QUICK_EPOCHS, settings
from aelab.ui.training import OPEN_KEY, board, live, outcome, remember_written

if st.session_state.pop(OPEN_KEY, False):
    st.switch_page(navigation.MAP.script)

job: jobs.TrainingJob | None = st.session_state.get(keys.TRAIN_JOB)
busy = job is not None and job.snapshot().running
if job is not None and not busy:
    remember_written(job.snapshot())

st.title("Train a model")
st.caption(
    "Pick a model and some images, press Train and watch it learn to reconstruct them. "
    f"The defaults (an MLP VAE, {QUICK_EPOCHS} epochs) are a short run; its bar says the time each epoch takes "
    "on this machine and how long is left at that pace."
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
