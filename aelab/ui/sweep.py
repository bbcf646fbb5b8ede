"""The recorded beta sweep (aelab.explore.sweep) as the app shows it: MIG against beta, seed by seed, and the
rate-distortion plane, each with the sentence of what it shows and whether the goal held. `draw_sweep` is
what a page calls; the two figures are built from the sweep alone, so tests can build them."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from aelab.explore import sweep as sweeps
from aelab.settings import current
from aelab.ui.map_figure import MARGIN, PALETTE

TCVAE_MARKER = "diamond"  # a beta-TCVAE's points; the beta-VAEs' are circles


def _traces(found: sweeps.Sweep, x: str, y: str) -> list[go.Scatter]:
    """One trace per configuration, a point per seed, coloured by configuration."""
    traces = []
    for i, group in enumerate(sweeps.summarise(found)):
        runs = [r for r in found.runs if r.config == group.config]
        traces.append(
            go.Scatter(
                x=[getattr(r, x) for r in runs],
                y=[getattr(r, y) for r in runs],
                mode="markers",
                name=group.config,
                text=[f"seed {r.seed}" for r in runs],
                marker=dict(size=11, color=PALETTE[i % len(PALETTE)], symbol=TCVAE_MARKER if group.tcvae else "circle"),
                hovertemplate=f"{group.config}, %{{text}}<br>{x} %{{x:.3g}}<br>{y} %{{y:.3g}}<extra></extra>",
            )
        )
    return traces


def mig_figure(found: sweeps.Sweep) -> go.Figure:
    """MIG of every seed against beta (log axis), each configuration's mean as a dash, the goal as a line."""
    fig = go.Figure(_traces(found, "beta", "mig"))
    groups = sweeps.summarise(found)
    fig.add_trace(
        go.Scatter(
            x=[g.beta for g in groups],
            y=[g.mean for g in groups],
            mode="markers",
            name="mean over seeds",
            marker=dict(symbol="line-ew-open", size=26, color="#444", line=dict(width=2)),
            hovertemplate="mean MIG %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(y=sweeps.GOAL_MIG, line=dict(color="#d62728", dash="dash"), annotation_text="goal")
    betas = sorted({g.beta for g in groups})
    fig.update_layout(
        height=340,
        margin=MARGIN,
        xaxis=dict(type="log", tickvals=betas, ticktext=[f"{b:g}" for b in betas], title="beta"),
        yaxis=dict(title="MIG on held-out images", rangemode="tozero"),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig


def rate_distortion_figure(found: sweeps.Sweep) -> go.Figure:
    """Every run's KL (rate) against its reconstruction error (distortion), in nats per image."""
    fig = go.Figure(_traces(found, "recon", "kl"))
    fig.update_layout(
        height=340,
        margin=MARGIN,
        xaxis_title="reconstruction error (nats per image)",
        yaxis_title="KL (nats per image)",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig


def draw_sweep(compact: bool = False) -> None:
    """The sweep beside the starter checkpoints, drawn with what it shows; a line if there is none. `compact`:
    its verdict and MIG against beta only (the Start page)."""
    path = current().checkpoints_dir / sweeps.RESULTS_FILE
    if not path.exists():
        st.info("No beta sweep is recorded in the checkpoints folder (bench/beta_sweep.py records one).")
        return
    try:
        found = sweeps.load(path)
    except ValueError as err:
        st.warning(str(err))
        return
    held, said = sweeps.verdict(found)
    (st.success if held else st.warning)(said)
    if compact:
        st.plotly_chart(mig_figure(found), key="sweep_mig")
        st.caption(sweeps.mig_sentence(found))
        return
    seeds = len({r.seed for r in found.runs})
    st.caption(
        f"{len(found.runs)} models of the {found.dataset} recipe, {seeds} seeds per configuration, each "
        f"{found.model}, trained for {found.budget}, one CPU thread; MIG, reconstruction and KL on held-out "
        f"images. Diamonds: beta-TCVAE, whose beta weighs only the total correlation part of the KL."
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(mig_figure(found), key="sweep_mig")
        st.caption(sweeps.mig_sentence(found))
    with right:
        st.plotly_chart(rate_distortion_figure(found), key="sweep_rd")
        st.caption(sweeps.rate_distortion_sentence(found))
