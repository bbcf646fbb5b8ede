"""The pages' charts besides the map: training curves and the Anomaly page's error histogram, ROC and score
spread, built from arrays alone, so a unit test can build each one."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from aelab.training.config import EpochLog
from aelab.ui.map_figure import MARGIN, PALETTE

EPOCH_TICKS = 8  # the most epoch ticks on a loss chart's axis


def loss_curves(history: tuple[EpochLog, ...], variational: bool) -> go.Figure:
    """Train and validation loss per epoch; for VAEs also its two terms, which differ in scale. The epoch axis
    ticks whole epochs only (Plotly's own ticks fall on 1.5, 2.5 for two or three epochs)."""
    epochs = [h.epoch for h in history]
    every = max(1, -(-len(epochs) // EPOCH_TICKS))
    panels = [("loss", "Loss (nats per image)")] + ([("recon", "Reconstruction"), ("kl", "KL")] if variational else [])
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for _, title in panels])
    for col, (term, _) in enumerate(panels, start=1):
        for part, dash, colour in (("train", "solid", PALETTE[0]), ("val", "dash", PALETTE[1])):
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[getattr(h, part)[term] for h in history],
                    mode="lines+markers",
                    name="training" if part == "train" else "validation",
                    legendgroup=part,
                    showlegend=col == 1,
                    line=dict(dash=dash, color=colour),
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", tick0=epochs[0] if epochs else 1, dtick=every, row=1, col=col)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3))
    return fig


def error_histogram(
    errors: np.ndarray, name: str, threshold: float, suggested: float, percentile: float, marks: dict[str, float]
) -> go.Figure:
    """The reference anomaly scores (counts on a log scale), with the threshold, the suggested one and `marks`
    (uploads) as vertical lines. Each line is a legend entry with its value on hover, never a label on the plot: labels
    of nearby lines would lie on top of each other."""
    fig = go.Figure(go.Histogram(x=errors, nbinsx=120, name=name, marker_color="#4c78a8"))
    threshold_colour, suggested_colour = "#d62728", "#7f7f7f"
    others = [c for c in PALETTE if c not in (threshold_colour, suggested_colour)]
    lines = [
        (f"threshold {threshold:.1f}", threshold, threshold_colour, "solid"),
        (f"{percentile:g}th percentile {suggested:.1f}", suggested, suggested_colour, "dash"),
    ]
    lines += [(mark, error, others[i % len(others)], "dot") for i, (mark, error) in enumerate(marks.items())]
    for label, x, colour, dash in lines:
        fig.add_trace(
            go.Scatter(
                x=[x, x],
                y=[0, 1],
                yaxis="y2",
                mode="lines",
                name=label,
                line=dict(color=colour, dash=dash, width=2),
                hovertemplate=f"{label}<br>score %{{x:.1f}}<extra></extra>",
            )
        )
    fig.update_layout(
        height=320,
        margin=MARGIN,
        bargap=0.02,
        yaxis=dict(type="log", dtick=1),
        xaxis_title="anomaly score (reconstruction loss + code distance, less the ink line)",
        yaxis_title="test images (log)",
        yaxis2=dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig


def posterior_bars(mu: np.ndarray, sigma: np.ndarray, kl: np.ndarray) -> go.Figure:
    """One image's posterior per dimension: mu with sigma as error bars above, the KL from the prior below."""
    dims = [str(d) for d in range(len(mu))]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12, row_heights=[0.6, 0.4])
    fig.add_trace(
        go.Bar(x=dims, y=mu, error_y=dict(type="data", array=sigma), name="mu ± sigma", marker_color=PALETTE[0]),
        row=1,
        col=1,
    )
    fig.add_trace(go.Bar(x=dims, y=kl, name="KL (nats)", marker_color=PALETTE[1]), row=2, col=1)
    fig.update_yaxes(title_text="mu ± sigma", row=1, col=1)
    fig.update_yaxes(title_text="KL (nats)", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="dimension", type="category", row=2, col=1)
    fig.update_layout(height=380, margin=MARGIN, showlegend=False)
    return fig


def roc_curve(fpr: np.ndarray, tpr: np.ndarray, auroc: float, what: str) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=fpr, y=tpr, mode="lines", name=f"AUROC {auroc:.3f}", line=dict(color="#d62728", width=2))
    )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(color="#7f7f7f", dash="dash")))
    fig.update_layout(
        height=360,
        margin=MARGIN,
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
        title=f"ROC: flagging {what}",
        legend=dict(x=0.55, y=0.1),
    )
    return fig


def score_spread(normal: np.ndarray, anomalous: np.ndarray, anomalous_name: str, score_title: str) -> go.Figure:
    fig = go.Figure()
    for scores, name in ((normal, "seen classes"), (anomalous, anomalous_name)):
        fig.add_trace(go.Histogram(x=scores, name=name, opacity=0.6, nbinsx=80, histnorm="probability density"))
    fig.update_layout(
        barmode="overlay", height=360, margin=MARGIN, title="Scores", xaxis_title=score_title, yaxis_title="density"
    )
    return fig
