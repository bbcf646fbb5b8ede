"""Sample: decode random codes from the model's prior, and see how AE and VAE differ at generation."""

import streamlit as st

from aelab.explore import priors
from aelab.explore.priors import DEFAULT_COMPONENTS, QUALITY_K, QUALITY_SAMPLES
from aelab.images import render
from aelab.ui import caches, text
from aelab.ui.context import require_context
from aelab.ui.widgets import comparison_picker, picture_with_download

WHY_SIDE = 6  # samples per row and column of the three grids side by side

ctx = require_context()


st.title("Sample")
st.caption(
    "Decode codes drawn at random. A VAE is trained so that its prior N(0, I) decodes to plausible images; "
    "a plain autoencoder has no prior, so here it gets a Gaussian fitted to its own codes. A Gaussian mixture "
    "fitted to the codes (a VAE's: to a sample of its aggregate posterior) follows the data's clusters instead."
)

controls = st.columns([2, 2, 2, 3])
temperature = controls[0].slider(
    "Temperature",
    0.1,
    2.0,
    1.0,
    0.1,
    key="sample_temperature",
    help="Scales the spread of the codes around the prior's mean.",
)
seed = controls[1].number_input("Seed", 0, 2**31 - 1, 0, key="sample_seed")
side = controls[2].slider("Grid size", 3, 10, 8, key="sample_side")
with controls[3]:
    other = comparison_picker(ctx, key="sample_compare")

where, how_many = st.columns([3, 2])
source = where.radio(
    "Samples from", list(text.SAMPLE_SOURCES), format_func=text.SAMPLE_SOURCES.get, key="sample_source", horizontal=True
)
components = None
if source == text.MIXTURE:
    components = how_many.slider(
        "Mixture components",
        2,
        20,
        DEFAULT_COMPONENTS,
        key="sample_components",
        help="Each a full-covariance Gaussian, fitted by scikit-learn (seeded).",
    )

pixels = caches.datasets.pictures(*ctx.key.data)
n_quality = min(QUALITY_SAMPLES, len(pixels))  # as many samples as real images, as density and coverage expect
runs = [ctx] if other is None else [ctx, other]

yardstick = caches.samples.reference_distance(ctx.key)
spread = caches.samples.reference_diversity(ctx.key)
for i, (column, run_ctx) in enumerate(zip(st.columns(len(runs)), runs)):
    if components is None:
        description = caches.samples.prior(run_ctx.key).description
    else:
        try:
            description = caches.samples.mixture(run_ctx.key, components).description
        except ValueError as err:  # fewer codes than a mixture of this size needs
            st.error(str(err))
            st.stop()
    z = caches.samples.sample_codes(run_ctx.key, components, side * side, temperature, int(seed))
    samples = run_ctx.decode(z)
    quality = caches.samples.quality(run_ctx.key, components, temperature, int(seed), n_quality)
    name = run_ctx.checkpoint.path.stem
    with column:
        st.markdown(f"**{name}**")
        picture_with_download(
            render.make_grid(samples, ncol=side), description, f"samples-{name}-seed{seed}.png", f"sample_png_{i}"
        )
        st.markdown(
            f"Nearest test image: **{priors.nearest_distances(samples, pixels).mean():.2f}** on average "
            f"(real test images: {yardstick:.2f}).  \n"
            f"Diversity: **{priors.diversity(samples):.2f}** between samples "
            f"(real test images: {spread:.2f}).  \n" + text.quality_text(quality.density, quality.coverage, n_quality)
        )
st.caption(
    "Under each grid, first two mean Euclidean pixel distances, each beside the same figure for real test "
    "images. "
    "*Nearest test image*: from each sample to its nearest test image; near the real figure, the samples "
    "look like data, well above it they are shapes no test image resembles. *Diversity*: between every two "
    "samples; well below the real figure, the samples are variations of a few images (a low temperature "
    "decodes nearly one average image, which the nearest-image figure alone would reward). Pixel distance "
    "cannot tell sharp from blurry: judge that by eye."
)
st.caption(
    f"*Density and coverage* (Naeem et al. 2020), of as many samples as real test images, in pixels, each real "
    "test image's neighbourhood reaching "
    f"its {QUALITY_K}th nearest other one: *coverage* is the share of real images with a sample in their "
    f"neighbourhood (near {1 - 2**-QUALITY_K:.2f} for samples like the data, low when samples collapse onto "
    "a few shapes, which the nearest-image figure cannot see); *density* counts the neighbourhoods each sample "
    "falls in, over k (about 1 for samples like the data, above 1 when they crowd into the densest regions)."
)

st.subheader("Why VAEs exist")
autoencoder = next((run for run in runs if not run.is_variational), None)
vae = next((run for run in runs if run.is_variational), None)
if autoencoder is None or vae is None:
    st.info("Pick an autoencoder and a VAE (the model in the sidebar and “Compare with”) to see them side by side.")
else:
    grids = [
        (autoencoder, True, f"{autoencoder.checkpoint.path.stem}: autoencoder from N(0, I)"),
        (autoencoder, False, f"{autoencoder.checkpoint.path.stem}: autoencoder from a Gaussian fitted to its codes"),
        (vae, False, f"{vae.checkpoint.path.stem}: VAE from its prior N(0, I)"),
    ]
    for column, (run_ctx, standard, title) in zip(st.columns(3), grids):
        drawn = caches.samples.why_vaes(run_ctx.key, standard, WHY_SIDE**2, 1.0, int(seed))
        coverage = caches.samples.why_vaes_coverage(run_ctx.key, standard, 1.0, int(seed), n_quality)
        column.image(
            render.to_png(render.enlarge(render.make_grid(drawn, ncol=WHY_SIDE), 2)),
            caption=f"{title} · coverage {coverage:.2f}",
            output_format="PNG",
        )
    st.caption(text.WHY_VAES)
