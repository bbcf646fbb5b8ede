"""The latent map's Plotly figure and the reading of a click on it, built from arrays alone: no Streamlit, so a
unit test can build the figure and read a click."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

# The classes' colours and every figure's margin: the charts (aelab.ui.charts) share them.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
UNLABELLED_COLOUR = "#444444"
MARGIN = dict(l=10, r=10, t=30, b=10)
MAP_POINTS, MAP_CELLS = "points", "cells"  # the latent map's legend groups: a click reports the one it hit
GRID = 36  # clickable cells per axis on a PCA map: a click between points decodes that spot
POINT_OPACITY = 0.75
MAP_PX = 620  # the latent map's height
SMALL_MAP_PX = 420  # the map beside other panels (the Draw page)
CONTINUOUS = "Viridis"  # a number per point: perceptually even, legible to colour-blind readers
MARK = "black"  # the clicked point and the decoded spot
OUTSIDE = "#d0d0d0"  # points outside a box or lasso: kept in view, in grey
CELL_COLOUR = "rgba(0,0,0,0)"  # the clickable cells: unseen, yet hovered and clicked like any point


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
    tool: str = "pan",
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
            colorscale=go.scattergl.Marker(colorscale=CONTINUOUS).colorscale,  # spelt out, as validation does
            cmin=low,
            cmax=high,
            showscale=True,
            colorbar=dict(title=dict(text=values_title, side="right"), thickness=12),
        )
        groups = [(values_title, np.arange(len(coords)), scale)]
        data = np.c_[rows, labels, values].astype(np.float32)  # exact for rows below 2**24
        hover = (
            f"{values_title} %{{customdata[2]:.4g}}<br>label %{{customdata[1]}}<br>index %{{customdata[0]}}"
            "<extra></extra>"
        )
    traces = []
    for name, positions, colour in groups:
        if len(positions):
            traces.append(
                dict(
                    type="scattergl",
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
        traces.append(
            dict(
                type="scattergl",
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
    layout = dict(
        height=MAP_PX,
        margin=dict(MARGIN),  # a copy: unvalidated, the figure would hold the shared dict itself
        dragmode=tool,  # what a drag does: "pan", or the "select" (box) or "lasso" tool the person last used
        clickmode="event+select",
        xaxis=dict(title=dict(text=f"{method} 1")),
        yaxis=dict(title=dict(text=f"{method} 2")),
        legend=dict(x=0.01, y=0.99, bgcolor="rgba(255,255,255,0.8)"),
    )
    # Written as Plotly's validation leaves a figure (the unit tests check it does), so it is not validated: that
    # would check and copy every point of every trace on each run of the page. What the page adds
    # later (uploads, a path, pictures) is validated as usual.
    fig = go.Figure(data=traces, layout=layout, _validate=False)
    fig._validate = fig.layout._validate = True
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
