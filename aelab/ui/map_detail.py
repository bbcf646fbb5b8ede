"""The latent map's detail panel: what a box or lasso holds, a decoded PCA spot, or one dataset image.

The Map page's `explore` fragment draws one of them beside the chart, by what was last clicked or drawn.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from aelab.explore import encoding, neighbours, projections, selection
from aelab.explore.anomaly import reconstruction_errors
from aelab.images import render
from aelab.ui import keys
from aelab.ui.context import Context
from aelab.ui.posterior import posterior_panel
from aelab.ui.widgets import picture_with_download, show

NEAREST_COLUMNS = 3  # the nearest codes' pictures a row: in the panel's width, each twice MNIST's size
GALLERY_SCALE = 2  # a selection's gallery and the nearest codes enlarged so: 3 a row fill the panel
NOT_SHARED = "The other pages work on the sidebar's test split as held: this map's images cannot be sent to them."


def region_detail(ctx: Context, region: keys.MapRegion, projection: projections.Projection, shared: bool) -> None:
    """What a box or lasso holds: counts by label, the mean image beside the decoded mean code, a gallery
    of the images over their reconstructions, and exports; groups for Directions when its images are `shared`."""
    labels, classes = ctx.labels()
    codes = ctx.codes()
    rows = selection.selected_rows(region.rows)
    # the selected images only, not the dataset's, and not too many: a stream's are read from their files
    averaged = selection.spread_rows(rows, selection.AVERAGED)
    summary = selection.summarise(rows, render.to_pictures(ctx.rows(averaged)), labels, classes, codes.mu)
    st.subheader(f"{len(summary.rows)} images selected")
    # With the box or lasso tool kept chosen, Plotly ignores a double-click on the redrawn map: a button clears.
    if st.button("Clear selection", key="region_clear", icon=":material/close:"):
        keys.set_map_region(None)
        st.rerun()
    st.caption("By label: " + " · ".join(f"{name} {count}" for name, count in summary.counts.items()))
    mean = "mean image" if len(averaged) == len(rows) else f"mean of {len(averaged):,} of them, spread evenly"
    show([summary.mean_image, ctx.decode(summary.mean_code[None])[0]], [mean, "decoded mean code"], scale=3)
    gallery = ctx.rows(selection.spread_rows(summary.rows, selection.GALLERY))
    grid = selection.gallery(render.to_pictures(gallery), encoding.reconstruct(ctx.model, gallery))
    picture_with_download(
        grid,
        f"{len(gallery)} of them, each row of originals above its reconstructions",
        "selection.png",
        key="region_png",
        label="Gallery (PNG)",
        scale=GALLERY_SCALE,
    )
    st.download_button(
        "Indices, labels and codes (CSV)",
        projections.codes_csv(codes.mu, labels, projection, summary.rows),
        file_name="selection.csv",
        mime="text/csv",
        key="region_csv",
        icon=":material/download:",
    )
    if not shared:
        st.caption(NOT_SHARED)
        return
    for side in "AB":  # one under the other, as a point's buttons: side by side, the panel cut their labels
        if st.button(
            f"Use as group {side}",
            key=f"group_{side}",
            width="stretch",
            help="Two groups make an attribute vector on the Directions page: B's mean code minus A's.",
        ):
            keys.save_group(side, region)
            st.toast(f"{len(summary.rows)} images are group {side}")


def decoded_spot(ctx: Context, projection: projections.Projection, location: tuple[float, float]) -> None:
    """What the decoder draws at a clicked spot of a PCA map: PCA is invertible, so any spot is a code."""
    st.subheader("Decoded location")
    show(
        [ctx.decode(projection.inverse(np.array(location)))[0]], f"PCA ({location[0]:.2f}, {location[1]:.2f})", scale=6
    )
    st.caption("The code is the PCA inverse of this spot (the X on the map): the map's two axes, the rest at the mean.")


def dataset_image(ctx: Context, index: int, projection: projections.Projection, shared: bool) -> None:
    """A clicked point: its image and reconstruction, buttons to use it on other pages (when its images are
    `shared` with them), and its neighbours."""
    position = projection.position(index)
    on_map = position is not None

    st.subheader(f"Image {index}")
    image = ctx.rows([index])
    show(
        [render.to_pictures(image)[0], encoding.reconstruct(ctx.model, image)[0]],
        [f"original · label {ctx.data.label_name(index)}", "reconstruction"],
        scale=4,
    )
    st.caption(
        f"Reconstruction error {reconstruction_errors(ctx.model, image)[0]:.4f} (mean squared, per pixel)"
        + ("" if on_map else ". It is not among the points of this map (a sample of the data).")
    )
    if shared:
        _use_buttons(index)
    else:
        st.caption(NOT_SHARED)
    # A toggle, not an expander: an expander's content is built and sent on every click even when closed.
    if st.toggle("Its posterior: mu, sigma, draws and KL", key="map_posterior_on"):
        posterior_panel(ctx, image, "map_posterior")
    mu = ctx.codes().mu
    near = neighbours.nearest(mu, index)
    st.caption(
        f"Its {len(near.index)} nearest codes, nearest first (labels "
        f"{', '.join(str(ctx.data.label_name(i)).split(' - ')[0] for i in near.index)}):"
    )
    strip = render.make_grid(render.to_pictures(ctx.rows(near.index)), ncol=NEAREST_COLUMNS)
    show([render.enlarge(strip, GALLERY_SCALE)], None, scale=1)  # a grid, enlarged as one: not as one large picture
    if position is not None:
        kept = neighbours.kept(mu[projection.index], projection.coords, position)
        st.caption(
            f"{kept} of its {neighbours.DEFAULT_K} nearest codes among this map's points are also its "
            f"{neighbours.DEFAULT_K} nearest points on the map (trust {kept / neighbours.DEFAULT_K:.1f})."
        )


def _use_buttons(index: int) -> None:
    """Send dataset row `index` to the pages that start from one image."""
    for picker, label, role, key in (
        (keys.INTERP_A, "interpolation A", "interpolation endpoint A", "use_a"),
        (keys.INTERP_B, "interpolation B", "interpolation endpoint B", "use_b"),
        (keys.TRAVERSE_BASE, "traversal base", "the traversal base", "use_base"),
    ):
        if st.button(f"Use as {label}", key=key, width="stretch"):
            picker.send(index)
            st.toast(f"Image {index} is {role}")
