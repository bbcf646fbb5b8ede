"""Compare: two checkpoints side by side on the same inputs, their metrics in one table, and exports.

Every view feeds both models exactly the same thing (test images, prior seed and temperature,
interpolation endpoints), so differences in the pictures are differences between the models.
"""

import numpy as np
import pandas as pd
import streamlit as st

from aelab.data.dataset import sample_indices
from aelab.data.registry import dataset_title
from aelab.explore import encoding, priors, walks
from aelab.images import render
from aelab.models.autoencoders import count_parameters
from aelab.models.config import describe
from aelab.training.runs import label_for
from aelab.ui import caches
from aelab.ui.context import Context, model_options, require_context
from aelab.ui.model_card import metric_rows
from aelab.ui.sweep import draw_sweep
from aelab.ui.widgets import pick_model, picture_with_download

METHODS = {"linear": "Linear", "slerp": "Spherical (slerp)"}


def pick(title: str, options: dict[str, str], default: int, key: str) -> Context | None:
    checkpoint = pick_model(title, options, list(options)[default], key)
    if checkpoint is None:
        return None
    st.caption(describe(checkpoint.model.config))
    return ctx.with_checkpoint(checkpoint)


ctx = require_context()

st.title("Compare")
st.caption(
    "Any two models on the same inputs: the same test images, the same random seed and temperature for "
    "samples, the same pair of images to interpolate between."
)

options = model_options(shape=ctx.shape)
labels = list(options)
if len(labels) < 2:
    st.info("Only one model is available: train another on the Train page to compare two.")
    st.stop()
current = labels.index(label_for(ctx.checkpoint.path)) if label_for(ctx.checkpoint.path) in labels else 0
left, right = st.columns(2)
with left:
    run_a = pick("Model A", options, current, "compare_a")
with right:
    run_b = pick("Model B", options, 1 if current == 0 else 0, "compare_b")
if run_a is None or run_b is None:
    st.stop()
runs = {"A": run_a, "B": run_b}
names = {k: run.checkpoint.path.stem for k, run in runs.items()}
if run_a.checkpoint.digest == run_b.checkpoint.digest:
    st.info("A and B are the same model: pick another for B to see a difference.")

recon_tab, sample_tab, interp_tab, metrics_tab, export_tab, sweep_tab = st.tabs(
    ["Reconstructions", "Samples", "Interpolations", "Metrics", "Export", "Beta sweep"]
)

with recon_tab:
    c1, c2 = st.columns(2)
    count = c1.slider("Test images", 4, 16, 8, key="compare_recon_count")
    seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key="compare_recon_seed"))
    rows = sample_indices(len(ctx.data), count, seed)
    x = ctx.images[rows]
    recon = {k: encoding.reconstruct(run.model, x) for k, run in runs.items()}
    shown = render.to_pictures(x)
    errors = {k: ((r - shown) ** 2).reshape(len(rows), -1).mean(1) for k, r in recon.items()}
    grid = render.labelled_grid(
        np.stack([shown, recon["A"], recon["B"]]),
        ["original", "A", "B"],
        [[f"test {i}" for i in rows], *([f"{e:.4f}" for e in errors[k]] for k in runs)],
        scale=render.display_scale(3, shown.shape[1]),
    )
    picture_with_download(
        grid,
        f"Columns: test images {', '.join(map(str, rows))}. Rows: the originals, then A = {names['A']} "
        f"(MSE {errors['A'].mean():.4f}) and B = {names['B']} (MSE {errors['B'].mean():.4f}); under each "
        "reconstruction, its own MSE.",
        f"reconstructions-{names['A']}-vs-{names['B']}.png",
        "compare_recon_png",
        scale=1,
    )

with sample_tab:
    c1, c2, c3 = st.columns(3)
    temperature = c1.slider("Temperature", 0.1, 2.0, 1.0, 0.1, key="compare_temperature")
    sample_seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key="compare_sample_seed"))
    side = c3.slider("Grid size", 3, 8, 6, key="compare_side")
    for column, (k, run) in zip(st.columns(2), runs.items()):
        prior = caches.samples.prior(run.key)
        samples = run.decode(priors.sample(prior, side * side, temperature, sample_seed))
        with column:
            st.markdown(f"**{k}: {names[k]}**")
            picture_with_download(
                render.make_grid(samples, ncol=side),
                prior.description,
                f"samples-{names[k]}-seed{sample_seed}-t{temperature:g}.png",
                f"compare_sample_png_{k}",
            )

with interp_tab:
    c1, c2, c3, c4 = st.columns(4)
    last = len(ctx.data) - 1
    index_a = int(c1.number_input("From test image", 0, last, 0, key="compare_from"))
    index_b = int(c2.number_input("To test image", 0, last, min(1, last), key="compare_to"))
    steps = c3.slider("Steps", 3, 16, 10, key="compare_steps")
    method = c4.radio("Path", list(METHODS), format_func=METHODS.get, key="compare_method")
    ends = render.to_pictures(ctx.images[[index_a, index_b]])
    strips = []
    for run in runs.values():
        a, b = run.encode(ends)
        strips.append(run.decode(walks.interpolate(a, b, steps, method)))
    picture_with_download(
        render.make_grid(np.concatenate(strips), ncol=steps),
        f"test {index_a} to test {index_b}; top: A = {names['A']}, bottom: B = {names['B']}",
        f"interpolation-{names['A']}-vs-{names['B']}.png",
        "compare_interp_png",
    )

with metrics_tab:
    table = pd.DataFrame(
        {
            f"{k}: {names[k]}": metric_rows(
                run.model.config, run.checkpoint.meta, count_parameters(run.model), caches.scores.errors(run.key).mean()
            )
            for k, run in runs.items()
        }
    )
    st.table(table)  # a table wraps long words (an own model's entry point) where a dataframe cuts them
    st.caption(
        "“Recorded” figures come from each checkpoint's metadata (its training run's test evaluation, "
        "reconstruction loss summed over pixels); the MSE is measured here on the "
        f"{len(ctx.data)} test images of {dataset_title(ctx.dataset)}."
    )

with export_tab:
    which = st.radio(
        "Model", list(runs), format_func=lambda k: f"{k}: {names[k]}", horizontal=True, key="compare_export_model"
    )
    run = runs[which]
    st.download_button(
        "Latent codes and PCA map (CSV)",
        caches.maps.codes_csv(run.key),
        file_name=f"latent-{names[which]}-{dataset_title(run.dataset)}-{run.split}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="compare_csv",
    )
    st.caption(
        f"One row per {dataset_title(run.dataset)} {run.split} image ({len(run.data)}): index, label, the code "
        f"z_0..z_{run.model.latent_dim - 1} (posterior means for a VAE) and its PCA coordinates "
        "pca_x, pca_y. The PNG grids are under each view."
    )

with sweep_tab:
    draw_sweep()
