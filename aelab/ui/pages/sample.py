"""Sample: decode random codes from the model's prior, and see how AE and VAE differ at generation."""

import streamlit as st

from aelab import images, latent
from aelab.ui import cached
from aelab.ui.context import require_context
from aelab.ui.widgets import comparison_picker, picture_with_download

ctx = require_context()


st.title("Sample")
st.caption("Decode codes drawn at random. A VAE is trained so that its prior N(0, I) decodes to plausible images; "
           "a plain autoencoder has no prior, so here it gets a Gaussian fitted to its own codes.")

controls = st.columns([2, 2, 2, 3])
temperature = controls[0].slider("Temperature", 0.1, 2.0, 1.0, 0.1, key="sample_temperature",
                                 help="Scales the spread of the codes around the prior's mean.")
seed = controls[1].number_input("Seed", 0, 2**31 - 1, 0, key="sample_seed")
side = controls[2].slider("Grid size", 3, 10, 8, key="sample_side")
with controls[3]:
    other = comparison_picker(ctx, key="sample_compare")

pixels = images.to_pictures(ctx.data.images)
yardstick = cached.reference_distance(ctx.dataset, ctx.split)
spread = cached.reference_diversity(ctx.dataset, ctx.split)
runs = [ctx] if other is None else [ctx, other]
for i, (column, run_ctx) in enumerate(zip(st.columns(len(runs)), runs)):
    prior = cached.prior(*run_ctx.key)
    samples = run_ctx.decode(latent.sample(prior, side * side, temperature, int(seed)))
    name = run_ctx.checkpoint.path.stem
    with column:
        st.markdown(f"**{name}**")
        picture_with_download(images.make_grid(samples, ncol=side), prior.description,
                              f"samples-{name}-seed{seed}.png", f"sample_png_{i}")
        st.markdown(f"Nearest test image: **{latent.nearest_distances(samples, pixels).mean():.2f}** on average "
                    f"(real test images: {yardstick:.2f}).  \n"
                    f"Diversity: **{latent.diversity(samples):.2f}** between samples "
                    f"(real test images: {spread:.2f}).")
st.caption("Under each grid, two mean Euclidean pixel distances, each beside the same figure for real test images. "
           "*Nearest test image*: from each sample to its nearest test image; near the real figure, the samples "
           "look like data, well above it they are shapes no test image resembles. *Diversity*: between every two "
           "samples; well below the real figure, the samples are variations of a few images (a low temperature "
           "decodes nearly one average digit, which the nearest-image figure alone would reward). Pixel distance "
           "cannot tell sharp from blurry: judge that by eye.")
