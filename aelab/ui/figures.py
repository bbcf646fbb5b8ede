"""The pages' Plotly figures, built from arrays alone: no Streamlit, so a unit test can build each one."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from aelab.images.render import data_uri, to_png
from aelab.training.config import EpochLog

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
UNLABELLED_COLOUR = "#444444"
MARGIN = dict(l=10, r=10, t=30, b=10)
MAP_POINTS, MAP_CELLS = "points", "cells"  # the latent map's legend groups: a click reports the one it hit
GRID = 36  # clickable cells per axis on a PCA map: a click between points decodes that spot
POINT_OPACITY = 0.75
MAP_PX = 620  # the latent map's height
SMALL_MAP_PX = 420  # the map beside other panels (the Draw page)
THUMBNAILS = 150  # pictures a map shows in place of their dots, when asked
THUMBNAIL_SHARE = 1 / 30  # of the map's width: a thumbnail's side
BACKGROUND_OPACITY = 0.55  # the decoded plane behind a PCA map: visible, the points still readable
CONTINUOUS = "Viridis"  # a number per point: perceptually even, legible to colour-blind readers
MARK = "black"  # the clicked point and the decoded spot
OUTSIDE = "#d0d0d0"  # points outside a box or lasso: kept in view, in grey
CELL_COLOUR = "rgba(0,0,0,0)"  # the clickable cells: unseen, yet hovered and clicked like any point
# Plotly styles a click itself (selected / unselected points), in the browser: the map keeps its
# look, only the clicked point or spot changes, and the figure Streamlit sent stays the same.
KEEP_LOOK = dict(selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=1.0)))


def class_colours(n_classes: int) -> list[str]:
    """One colour per class, then the unlabelled one last."""
    return [PALETTE[i % len(PALETTE)] for i in range(n_classes)] + [UNLABELLED_COLOUR]


def class_legend(classes: list[str]) -> str:
    """The map's colour key as HTML for st.html: a narrow column wraps it between entries, never
    inside one (not "9 -" on one line and "nine" on the next)."""
    entry = "<span style='white-space:nowrap'><span style='color:{}'>●</span>&nbsp;{}</span>"
    colours = class_colours(len(classes))
    return " ".join(entry.format(colour, html.escape(name)) for colour, name in zip(colours, classes))


def latent_map(
    coords: np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    method: str,
    clickable_cells: bool,
    selected: int | None = None,
    decoded: tuple[float, float] | None = None,
    values: np.ndarray | None = None,
    values_title: str = "",
    region: np.ndarray | None = None,
) -> go.Figure:
    """The dataset's codes in 2-D, one trace per class (as plotly.express colours by a category: the
    browser draws each in one colour instead of converting 10,000 through a colour scale), or one trace
    coloured by `values` (a number per point) with a colour bar; with `clickable_cells`, invisible cells
    so that a click on empty space lands on one (a PCA map decodes any spot). The points' traces are
    the legend group MAP_POINTS, each point's customdata starting with its dataset row; the cells are
    MAP_CELLS.

    `selected` (a position in `coords`) and `decoded` (a spot on the map) are marked the way Plotly
    marks a click, so a later click moves the mark in the browser while the figure stays as sent.
    A `region` (positions boxed or lassoed) keeps its colours while the other points turn grey.
    """
    if values is None:
        of_class = np.where(labels >= 0, labels, n_classes)  # unlabelled: the colour after the classes
        groups = [
            (f"label {k}" if k < n_classes else "unlabelled", np.flatnonzero(of_class == k), dict(color=colour))
            for k, colour in enumerate(class_colours(n_classes))
        ]
        data, hover = np.c_[rows, labels], "label %{customdata[1]}<br>index %{customdata[0]}<extra></extra>"
    else:
        low, high = np.percentile(values, [1, 99])  # a few extreme images do not wash out the rest
        scale = dict(
            color=values,
            colorscale=CONTINUOUS,
            cmin=low,
            cmax=high,
            showscale=True,
            colorbar=dict(title=dict(text=values_title, side="right"), thickness=12),
        )
        groups = [(values_title, np.arange(len(coords)), scale)]
        data = np.c_[rows, labels, values]
        hover = (
            f"{values_title} %{{customdata[2]:.4g}}<br>label %{{customdata[1]}}<br>index %{{customdata[0]}}"
            "<extra></extra>"
        )
    fig = go.Figure()
    for name, positions, colour in groups:
        if len(positions):
            fig.add_trace(
                go.Scattergl(
                    x=coords[positions, 0],
                    y=coords[positions, 1],
                    mode="markers",
                    name=name,
                    legendgroup=MAP_POINTS,
                    showlegend=False,
                    marker=dict(size=4, opacity=POINT_OPACITY, **colour),
                    customdata=data[positions],
                    hovertemplate=hover,
                    **_marked(positions, selected, region),
                )
            )
    if clickable_cells:
        xs = np.linspace(coords[:, 0].min(), coords[:, 0].max(), GRID)
        ys = np.linspace(coords[:, 1].min(), coords[:, 1].max(), GRID)
        gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
        spot = None if decoded is None else int(np.argmin((gx - decoded[0]) ** 2 + (gy - decoded[1]) ** 2))
        fig.add_trace(
            go.Scattergl(
                x=gx,
                y=gy,
                mode="markers",
                name="decode here",
                legendgroup=MAP_CELLS,
                showlegend=False,
                marker=dict(size=14, symbol="x", color=CELL_COLOUR),
                selected=dict(marker=dict(color=MARK, opacity=1.0)),
                unselected=dict(marker=dict(opacity=1.0)),
                selectedpoints=None if spot is None else [spot],
                hovertemplate="decode (%{x:.2f}, %{y:.2f})<extra></extra>",
            )
        )
    fig.update_layout(
        height=MAP_PX,
        margin=MARGIN,
        dragmode="pan",
        clickmode="event+select",
        xaxis_title=f"{method} 1",
        yaxis_title=f"{method} 2",
        legend=dict(x=0.01, y=0.99, bgcolor="rgba(255,255,255,0.8)"),
    )
    return fig


def _marked(positions: np.ndarray, selected: int | None, region: np.ndarray | None) -> dict:
    """A points trace's selection style and selected points (indices into the trace), as Plotly marks them."""
    if region is not None:
        return dict(
            selected=dict(marker=dict(opacity=1.0)),
            unselected=dict(marker=dict(color=OUTSIDE, opacity=0.5)),
            selectedpoints=np.flatnonzero(np.isin(positions, region)).tolist(),
        )
    within = [] if selected is None else np.flatnonzero(positions == selected).tolist()
    return dict(
        selected=dict(marker=dict(size=11, color=MARK, opacity=1.0)),
        unselected=dict(marker=dict(opacity=POINT_OPACITY)),
        selectedpoints=within or None,
    )


def map_rows(points: list[dict]) -> list[int]:
    """The dataset rows of the latent map's points among `points` (a Streamlit selection's, each with its
    trace's legend group and the point's customdata: a list, or {"0": row, "1": label} where the browser
    held the customdata as a typed array)."""
    return [
        int(data[0] if isinstance(data := p["customdata"], list) else data["0"])
        for p in points
        if p.get("legendgroup") == MAP_POINTS
    ]


def add_uploads(fig: go.Figure, xy: np.ndarray, names: list[str], title: str = "your uploads") -> None:
    """Uploaded images (or a drawing) as labelled stars; not clickable, so a click always lands on the map."""
    fig.add_trace(
        go.Scattergl(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers+text",
            name=title,
            text=names,
            showlegend=True,
            textposition="top center",
            hoverinfo="skip",
            **KEEP_LOOK,
            marker=dict(size=14, symbol="star", color="black", line=dict(width=1, color="white")),
        )
    )


def add_path(fig: go.Figure, xy: np.ndarray) -> None:
    """The current interpolation's codes from A to B, its ends labelled, drawn over the points (WebGL like
    them: an SVG trace would lie beneath); not clickable."""
    inner = len(xy) - 2
    fig.add_trace(
        go.Scattergl(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="lines+markers+text",
            name="interpolation A→B",
            text=["A", *[""] * inner, "B"],
            textposition=["top center", *["middle center"] * inner, "bottom center"],
            showlegend=True,
            hoverinfo="skip",
            textfont=dict(size=16, color="black"),
            line=dict(color="black", width=2.5),
            marker=dict(size=7, color="black"),
            **KEEP_LOOK,
        )
    )


def loss_curves(history: tuple[EpochLog, ...], variational: bool) -> go.Figure:
    """Train and validation loss per epoch; for VAEs also its two terms, which differ in scale."""
    epochs = [h.epoch for h in history]
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
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3))
    return fig


def error_histogram(
    errors: np.ndarray, name: str, threshold: float, suggested: float, percentile: float, marks: dict[str, float]
) -> go.Figure:
    """The reference errors on a log scale, with the threshold, the suggested one and `marks` (uploads) as
    vertical lines. Each line is a legend entry with its value on hover, never a label on the plot: labels
    of nearby lines would lie on top of each other."""
    fig = go.Figure(go.Histogram(x=errors, nbinsx=120, name=name, marker_color="#4c78a8"))
    threshold_colour, suggested_colour = "#d62728", "#7f7f7f"
    others = [c for c in PALETTE if c not in (threshold_colour, suggested_colour)]
    lines = [
        (f"threshold {threshold:.4f}", threshold, threshold_colour, "solid"),
        (f"{percentile:g}th percentile {suggested:.4f}", suggested, suggested_colour, "dash"),
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
                hovertemplate=f"{label}<br>error %{{x:.4f}}<extra></extra>",
            )
        )
    fig.update_layout(
        height=320,
        margin=MARGIN,
        bargap=0.02,
        yaxis=dict(type="log", dtick=1),
        xaxis_title="reconstruction error (mean squared, per pixel)",
        yaxis_title="test images (log)",
        yaxis2=dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
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


def add_background(fig: go.Figure, picture: np.ndarray, extent: tuple[float, float, float, float]) -> None:
    """A picture stretched over `extent` (x0, x1, y0, y1) of the map, beneath its points."""

    x0, x1, y0, y1 = extent
    fig.add_layout_image(
        source=data_uri(to_png(picture)),
        xref="x",
        yref="y",
        x=x0,
        y=y1,
        sizex=x1 - x0,
        sizey=y1 - y0,
        sizing="stretch",
        layer="below",
        opacity=BACKGROUND_OPACITY,
    )


def add_thumbnails(fig: go.Figure, pictures: np.ndarray, xy: np.ndarray, size: float) -> None:
    """Pictures drawn at their points, `size` map units wide: the images themselves where the dots are,
    growing as the map is zoomed in."""

    for picture, (x, y) in zip(pictures, xy):
        fig.add_layout_image(
            source=data_uri(to_png(picture)),
            xref="x",
            yref="y",
            x=float(x) - size / 2,
            y=float(y) + size / 2,
            sizex=size,
            sizey=size,
            sizing="contain",
            layer="above",
        )
