"""Anomaly: what the model reconstructs badly it has not learnt, so a threshold on reconstruction error flags it.

The test set's errors are the reference: a threshold is a percentile of them, and uploads are
ranked against them. The one-class experiment measures how well this works for a class the
model never saw, with a short training run right here.
"""

import numpy as np
import streamlit as st

from aelab.data.dataset import DatasetUnavailable
from aelab.data.registry import dataset_title
from aelab.explore import anomaly, encoding
from aelab.images import render
from aelab.models.autoencoders import MODELS
from aelab.models.config import MODEL_TITLES
from aelab.training import jobs, one_class
from aelab.ui import caches, charts, keys, progress, text
from aelab.ui.context import require_context
from aelab.ui.uploads import take_uploads
from aelab.ui.widgets import show

PERCENTILES = [90.0, 95.0, 97.5, 99.0, 99.5, 99.9]
SCALE = 3
STRIP = "Each picture: the image, its reconstruction and its error map."
KEPT_RESULTS = 32  # one-class results remembered per server


def use_suggested(key: str, value: float) -> None:
    st.session_state[key] = value


def composites(pictures: np.ndarray, recon: np.ndarray, maps: np.ndarray, vmax: float) -> list[np.ndarray]:
    """Per picture one RGB strip, image | reconstruction | coloured error map: the three cannot drift apart."""
    return [render.make_grid([p, r, anomaly.heatmap(m, vmax)], ncol=3) for p, r, m in zip(pictures, recon, maps)]


ctx = require_context()

st.title("Anomaly")
st.caption(
    "An autoencoder reconstructs well what resembles its training data, and encodes it near the data's "
    "codes. Every test image's anomaly score gives the reference distribution; an image scoring above a "
    "threshold is flagged. Error maps show the pixels' squared error, "
    "from dark (none) to light yellow (the largest among the images shown)."
)
st.caption(f"{text.ANOMALY_NOTE} {anomaly.TYPICALITY_HELP}")

errors = caches.scores.reference_scores(ctx.key)
dataset_name = dataset_title(ctx.dataset)
lo, hi = float(errors.min()), float(errors.max())
threshold_key = keys.anomaly_threshold_key(ctx.checkpoint.digest, ctx.dataset)

controls = st.columns([2, 3, 2])
percentile = controls[0].select_slider(
    "Suggest a threshold at percentile",
    PERCENTILES,
    value=anomaly.DEFAULT_PERCENTILE,
    key="anomaly_percentile",
    help="The share of ordinary test images the threshold lets through.",
)
suggested = anomaly.threshold_at(errors, percentile)
st.session_state.setdefault(threshold_key, suggested)
with controls[1]:
    threshold = st.slider("Threshold (anomaly score)", lo, hi, key=threshold_key, step=(hi - lo) / 1000, format="%.1f")
    st.button(
        f"Use the {percentile:g}th percentile ({suggested:.1f})",
        key="anomaly_use_suggested",
        on_click=use_suggested,
        args=(threshold_key, suggested),
    )
flagged = int((errors > threshold).sum())
controls[2].metric("Flagged test images", flagged, help=f"{100 * flagged / len(errors):.2f}% of the test set")

histogram = st.container()  # drawn once this run's uploads are scored

st.subheader("The most anomalous test images")
top = st.slider("How many", 3, 24, 9, 3, key="anomaly_top")
st.caption(STRIP)
order = np.argsort(-errors, kind="stable")[:top]
worst = ctx.images[order]
maps = anomaly.error_maps(ctx.model, worst)
captions = [
    f"#{rank}: test {i}, label {ctx.data.label_name(int(i))} · score {errors[i]:.1f}"
    + (" · flagged" if errors[i] > threshold else "")
    for rank, i in enumerate(order, 1)
]
show(
    composites(render.to_pictures(worst), encoding.reconstruct(ctx.model, worst), maps, float(maps.max())),
    captions,
    scale=SCALE,
    columns=3,
)

st.subheader("Your images")
upload_col, note_col = st.columns([3, 2])
with upload_col:
    files = st.file_uploader(
        "Score images of your own (PNG, JPEG, BMP, GIF, WebP)",
        accept_multiple_files=True,
        key="anomaly_uploader",
        help="Prepared the MNIST way, like on the Reconstruct page, and kept for the other pages.",
    )
    for message in take_uploads(files, "anomaly_upload_seen", ctx.shape):
        st.error(message, icon=":material/error:")
uploads = keys.uploads()
note_col.caption(
    "Each upload is ranked among the test images' scores: the percentile is the share of test "
    "images scoring lower. Uploads also appear as dotted lines on the histogram."
)
upload_names = list(uploads)
upload_errors = np.zeros(0)
if uploads:
    pictures = render.fit_all(list(uploads.values()), ctx.shape)
    x = render.to_tensor(pictures, ctx.shape)
    maps = anomaly.error_maps(ctx.model, x)
    upload_errors = caches.scores.typicality(ctx.key, pictures)
    percentiles = anomaly.percentile_of(upload_errors, errors)
    st.dataframe(
        {
            "image": upload_names,
            "score": np.round(upload_errors, 1),
            "percentile": np.round(percentiles, 1),
            "verdict": [anomaly.verdict(float(v), errors, threshold) for v in upload_errors],
        },
        hide_index=True,
    )
    st.caption(STRIP)
    shown = composites(pictures, encoding.reconstruct(ctx.model, x), maps, float(maps.max()))
    for strip, name, error in zip(shown, upload_names, upload_errors):
        left, right = st.columns([2, 3], vertical_alignment="center")
        with left:
            show([strip], name, scale=SCALE)
        right.markdown(anomaly.score_sentence(float(error), errors, f"{dataset_name} test", threshold))
else:
    st.info("No uploads yet: add images above or on the Reconstruct page.")

fig = charts.error_histogram(
    errors, f"{dataset_name} test", threshold, suggested, percentile, dict(zip(upload_names, upload_errors.tolist()))
)
histogram.plotly_chart(fig, key="anomaly_histogram", config={"displaylogo": False})

st.header("One-class experiment")
st.caption(
    "How good is reconstruction error at spotting something new? Train a fresh model without one class "
    "(or on one class alone), then score the whole test set: the ROC curve shows how well the score "
    "separates the classes the model never saw from those it did. It trains here, in this session; its bar "
    "shows the time it takes on this machine."
)
try:
    train_data = caches.datasets.load_data(ctx.dataset, "train", ctx.key.shape)
except (DatasetUnavailable, OSError) as err:
    st.warning(f"The one-class experiment needs the training split: {err}")
    st.stop()
present = sorted({int(c) for c in train_data.labels.unique() if c >= 0})
if len(present) < 2:
    st.info("The one-class experiment needs a labelled dataset with at least two classes.")
    st.stop()

settings = st.columns([2, 3, 2, 2, 3])
model_name = settings[0].selectbox(
    "Model to train",
    list(MODELS),
    index=list(MODELS).index("vae"),
    format_func=MODEL_TITLES.__getitem__,
    key="oc_model",
    help="The MLP VAE trains fastest.",
)
mode = settings[1].radio("Training data", one_class.MODES, format_func=one_class.MODE_TITLES.get, key="oc_mode")
held_out = settings[2].selectbox(
    "Class held out" if mode == "all_but_one" else "The only class",
    present,
    format_func=lambda c: train_data.classes[c],
    key="oc_class",
)
epochs = settings[3].slider("Epochs", 1, 30, 8, key="oc_epochs")
scores = list(anomaly.SCORES)
score = settings[4].selectbox(
    "Score",
    scores,
    index=scores.index(one_class.BEST_SCORE[mode]),
    format_func=anomaly.SCORES.__getitem__,
    key=f"oc_score_{mode}",
    help="The default is the score that separated best when measured on MNIST (bench/one_class.py).",
)

results = caches.scores.experiment_results()
run_key = (ctx.dataset, len(train_data), model_name, mode, held_out, epochs, score)
if st.button("Run the experiment", type="primary", key="oc_run", disabled=run_key in results):
    with st.status(f"Training a {MODEL_TITLES[model_name]} for {epochs} epochs…", expanded=True) as status:
        bar, clock = st.progress(0.0), progress.Clock()

        def report(fraction: float) -> None:
            bar.progress(min(1.0, fraction), text=clock.text("Training", fraction))

        try:
            with jobs.slot():
                ran = one_class.one_class_experiment(
                    model_name, train_data, ctx.data, held_out, mode=mode, epochs=epochs, score=score, progress=report
                )
        except (ValueError, RuntimeError) as err:  # jobs.JobRefused included
            status.update(label=f"The experiment could not run: {err}", state="error")
            st.stop()
        while len(results) >= KEPT_RESULTS:
            results.pop(next(iter(results)))
        results[run_key] = ran
        status.update(
            label=f"Trained on {ran.train_images} images in {ran.seconds:.0f} s", state="complete", expanded=False
        )

result = results.get(run_key)
if result is None:
    st.info(
        "Press “Run the experiment” to train with these settings; results are kept, so coming back to "
        "the same settings shows them at once."
    )
    st.stop()

name = train_data.classes[held_out]
unseen = f"class {name}" if mode == "all_but_one" else f"every class but {name}"
facts = st.columns(4)
facts[0].metric("AUROC", f"{result.auroc:.3f}", help="1 separates perfectly, 0.5 is chance.")
facts[1].metric("Training images", result.train_images)
facts[2].metric("Epochs", result.epochs)
facts[3].metric("Seconds", f"{result.seconds:.0f}")
roc_col, hist_col = st.columns(2)
roc_col.plotly_chart(
    charts.roc_curve(result.fpr, result.tpr, result.auroc, unseen), key="oc_roc", config={"displaylogo": False}
)
hist_col.plotly_chart(
    charts.score_spread(result.normal_scores, result.anomalous_scores, unseen, anomaly.SCORES[result.score]),
    key="oc_scores",
    config={"displaylogo": False},
)
st.caption(f"{one_class.MODE_TITLES[mode]} ({name}); scored on all {len(ctx.data)} test images of {dataset_name}.")
