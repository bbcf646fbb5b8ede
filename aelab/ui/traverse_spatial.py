"""Traverse on a spatial code (C, h, w): sliders along the dataset's principal directions, the current code drawn
as its channels, and their traversal grid (aelab/explore/spatial.py)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from aelab.explore import directions, spatial
from aelab.explore.directions import WALK_EXTENT
from aelab.ui import caches, text
from aelab.ui.context import Context
from aelab.ui.widgets import direction_slider, show, traversal_grid

SLIDERS_PX = 440  # height of the sliders' scrolling box, as for the dimension sliders
GRID_SCALE = 3  # enlargement of the traversal grid on screen and in the PNG


def draw(ctx: Context, base: np.ndarray, base_image: np.ndarray, shape: tuple[int, int, int]) -> None:
    """The page below the base's choice for a model whose codes are `shape`."""
    found = caches.walks.principal_sliders(ctx.key)
    labels = [text.direction_label(n, w, found.measure) for n, w in zip(found.names, found.weight)]
    slider_keys = [f"pc_t_{i}" for i in range(len(labels))]
    units = directions.units(found)

    def reset() -> None:
        for key in slider_keys:
            st.session_state[key] = 0.0

    signature = (ctx.key, base.tobytes())  # a new base (or model, or dataset) puts the sliders back at 0
    if st.session_state.get("pc_signature") != signature:
        if st.session_state.get("pc_signature", (None,))[0] != ctx.key:
            st.session_state.pop("pc_grid_rows", None)  # another model's directions
        st.session_state["pc_signature"] = signature
        reset()
    for key in slider_keys:
        st.session_state.setdefault(key, 0.0)  # widget state is dropped while another page is shown
    reconstruction = ctx.decode(base)[0]
    colours = caches.walks.code_colours(ctx.key)
    c, h, w = shape

    @st.fragment
    def explorer() -> None:
        """Sliders, the decode they produce and the code's channels: a slider reruns only this part."""
        pictures, controls = st.columns([2, 3])
        with controls, st.container(height=SLIDERS_PX, key="pc_sliders"):
            steps = [direction_slider(label, unit, key) for label, unit, key in zip(labels, units, slider_keys)]
        code = directions.code_at(base, found, np.array(steps))
        with pictures:
            show([base_image, reconstruction, ctx.decode(code)[0]], ["base", "reconstruction", "current decode"])
            st.button("Reset to base", key="pc_reset", on_click=reset, icon=":material/restart_alt:")
        scale = colours.holding(code)
        st.markdown(f"**The current code's {c} channels** ({h}x{w} each)")
        show(
            list(spatial.channel_pictures(code, shape, scale)),
            [f"channel {i}" for i in range(c)],
            scale=spatial.channel_enlargement(shape),
            columns=min(c, 8),
        )
        st.caption(
            f"One colour scale for every channel: black is {scale.low:.2f}, white {scale.high:.2f} (the dataset's "
            "code values from the 1st to the 99th percentile, widened to hold this code)."
        )

    st.subheader("Principal directions")
    st.caption(
        f"This model's codes are {c}x{h}x{w}: {c * h * w} numbers, too many for a slider each. The sliders move the "
        f"code along the {len(labels)} principal directions of the dataset's codes (PCA of the flattened codes, "
        f"strongest first, with each one's share of their variance), each spanning ±{WALK_EXTENT:g} standard "
        "deviations of the codes along it; all at 0 decode the base code."
    )
    explorer()

    st.subheader("Traversal grid")
    st.caption(
        f"Each row walks one principal direction from -{WALK_EXTENT:g} to +{WALK_EXTENT:g} standard deviations "
        "around the base code, the step under each picture; the other directions stay at the base."
    )
    left, right = st.columns([3, 1])
    rows = left.multiselect(
        "Principal directions (rows)",
        list(range(len(labels))),
        default=list(range(min(5, len(labels)))),
        key="pc_grid_rows",
        format_func=labels.__getitem__,
    )
    steps = right.slider("Values per direction", 3, 15, 8, key="pc_grid_steps")
    if not rows:
        st.info("Choose at least one direction to draw the grid.")
        return
    png = caches.walks.principal_grid_png(ctx.key, base.tobytes(), tuple(rows), steps, GRID_SCALE)
    traversal_grid(ctx, png, [found.names[r] for r in rows], "pc_grid_png")
