"""One image's posterior under a VAE, drawn: mu and sigma per dimension, the KL of each, and decodes of
z = mu + sigma * eps (the Reconstruct page and the latent map's clicked point)."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from aelab.explore import encoding
from aelab.ui import charts
from aelab.ui.context import Context
from aelab.ui.text import POSTERIOR
from aelab.ui.widgets import show

DRAWS = 6  # decodes of z = mu + sigma * eps beside the decode of mu


def posterior_panel(ctx: Context, image: torch.Tensor, key: str) -> None:
    """The posterior of `image` (1, C, H, W) under the chosen model; for an autoencoder, why there is none."""
    if not ctx.is_variational:
        st.info("An autoencoder maps an image to one code, not a distribution: pick a VAE to see its posterior.")
        return
    seed = int(st.number_input("Seed of the draws", 0, 2**31 - 1, 0, key=f"{key}_seed"))
    found = encoding.posterior_of(ctx.model, image, DRAWS, seed)
    st.caption(POSTERIOR)
    st.plotly_chart(
        charts.posterior_bars(found.mu, found.sigma, found.kl), key=f"{key}_bars", config={"displaylogo": False}
    )
    show(
        [found.mean_decode, *found.draws],
        ["decode(mu)"] + [f"draw {i + 1}" for i in range(DRAWS)],
        scale=2,
    )
    st.caption(
        f"KL of this posterior from the prior: {found.kl.sum():.2f} nats in all; the three dimensions that "
        f"carry most: {', '.join(f'dim {d} ({found.kl[d]:.2f})' for d in np.argsort(-found.kl)[:3])}."
    )
