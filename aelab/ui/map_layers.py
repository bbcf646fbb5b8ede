"""What the Map and Draw pages lay on the latent map: uploads, the interpolation path, the decoded plane
beneath, and pictures at their points."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from aelab.images.render import data_uri, to_png

THUMBNAILS = 150  # pictures a map shows in place of their dots, when asked
THUMBNAIL_SHARE = 1 / 30  # of the map's width: a thumbnail's side
BACKGROUND_OPACITY = 0.55  # the decoded plane behind a PCA map: visible, the points still readable
# Plotly styles a click itself (selected / unselected points), in the browser: the map keeps its
# look, only the clicked point or spot changes, and the figure Streamlit sent stays the same.
KEEP_LOOK = dict(selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=1.0)))


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

    images = [
        dict(
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
        for picture, (x, y) in zip(pictures, xy)
    ]
    # One assignment: add_layout_image one at a time validates the whole growing list each time.
    fig.update_layout(images=[*fig.layout.images, *images])
