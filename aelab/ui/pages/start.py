"""Start here: the ideas behind autoencoders in a natural order, each a plain sentence, a small live figure of
the chosen model and the page that shows it. Cheap: a handful of pictures encoded and decoded, nothing more."""

import numpy as np
import streamlit as st
import torch

from aelab.data.nondigits import letter
from aelab.explore import encoding, walks
from aelab.images import render
from aelab.models import noise
from aelab.models.config import DIGIT_SHAPE
from aelab.training.runs import shipped_dir
from aelab.ui import caches, sweep, text
from aelab.ui.context import Context, require_context
from aelab.ui.lessons import IDEAS
from aelab.ui.widgets import show

SCALE = 2  # enlargement of the small figures
FEW = 4  # test images in a figure
DENOISER = "denoising_conv_ae.safetensors"  # the starter trained on noisy inputs, beside the chosen model
SEED = 0  # of the samples and draws: the page shows the same figures on every visit


def bottleneck(ctx: Context) -> None:
    code = ctx.codes().mu[0]
    show([render.to_pictures(ctx.images[:1])[0], ctx.decode(code)[0]], ["picture", "rebuilt from its code"], SCALE)
    st.caption(f"Its code: {len(code)} numbers, " + ", ".join(f"{v:.1f}" for v in code[:6]) + ", …")


def reconstruction(ctx: Context) -> None:
    x = ctx.images[:FEW]
    grid = render.make_grid([*render.to_pictures(x), *encoding.reconstruct(ctx.model, x)], ncol=FEW)
    show([grid], "test images above their reconstructions", SCALE)


def sampling(ctx: Context) -> None:
    drawn = caches.samples.why_vaes(ctx.key, True, FEW, 1.0, SEED)
    who = "this VAE" if ctx.is_variational else "this autoencoder (it was never trained for it)"
    show([render.make_grid(drawn, ncol=FEW)], f"codes from N(0, I), decoded by {who}", SCALE)


def posterior(ctx: Context) -> None:
    if not ctx.is_variational:
        st.caption("This model is a plain autoencoder: one code per picture. Pick a VAE in the sidebar to see one.")
        return
    found = encoding.posterior_of(ctx.model, ctx.images[:1], FEW - 1, SEED)
    show([render.make_grid([found.mean_decode, *found.draws], ncol=FEW)], "decode(mean), then three draws", SCALE)


def kl_and_beta(ctx: Context) -> None:
    stats = caches.codes.dim_stats(ctx.key)
    st.bar_chart(
        {stats.measure: stats.importance[stats.order]}, x_label="numbers of the code, most used first", height=160
    )
    beta_sweep(ctx)


def beta_sweep(ctx: Context) -> None:
    """How disentanglement (MIG) depends on beta, each seed a point: the recorded sweep (aelab.ui.sweep)."""
    st.caption("Does a larger beta give one factor per dimension? The recorded sweep, seed by seed:")
    sweep.draw_sweep(compact=True)


def interpolation(ctx: Context) -> None:
    a, b = ctx.codes().mu[:2]
    show([render.make_grid(ctx.decode(walks.interpolate(a, b, 6)), ncol=6)], "from test image 0 to 1", SCALE)


def denoising(ctx: Context) -> None:
    clean = ctx.images[:1]
    noisy = noise.add_noise(clean, "gaussian", 0.3, torch.Generator().manual_seed(SEED))
    pictures = [render.to_pictures(clean)[0], render.to_pictures(noisy)[0], encoding.reconstruct(ctx.model, noisy)[0]]
    captions = ["clean", "noisy", "this model"]
    denoiser = shipped_dir() / DENOISER
    if denoiser.is_file() and str(denoiser) != ctx.path and tuple(ctx.shape) == DIGIT_SHAPE:
        model = caches.models.load_model(str(denoiser), caches.models.digest(str(denoiser))).model
        pictures.append(encoding.reconstruct(model, noisy)[0])
        captions.append("denoising AE")
    show(pictures, captions, SCALE)


def anomalies(ctx: Context) -> None:
    if tuple(ctx.shape) != DIGIT_SHAPE:
        st.caption("The letter below is drawn for digit models (1x28x28).")
        return
    odd = np.stack([render.to_pictures(ctx.images[:1])[0], letter("A")])
    rebuilt = encoding.reconstruct(ctx.model, render.to_tensor(odd))
    show([*odd, *rebuilt], ["a digit", "a letter", "rebuilt", "rebuilt"], SCALE)


FIGURES = (bottleneck, reconstruction, sampling, posterior, kl_and_beta, interpolation, denoising, anomalies)

ctx = require_context()
st.title("Start here")
st.caption(
    "Eight ideas behind autoencoders, in the order they build on each other. Each figure is live: made by the "
    "model chosen in the sidebar from the first test images. " + text.UNITS
)
for number, (idea, figure) in enumerate(zip(IDEAS, FIGURES), 1):
    with st.container(border=True):
        words, picture = st.columns([3, 2], vertical_alignment="center")
        words.markdown(f"**{number}. {idea.title}.** {idea.sentence}")
        words.page_link(idea.page.script, label=f"See it on {idea.page.title}", icon=idea.page.icon)
        with picture:
            figure(ctx)
