"""Directions: move a base code along what the data or the decoder varies most, or from one class to another."""

import numpy as np
import streamlit as st

from aelab.explore.directions import WALK_EXTENT, code_at, units
from aelab.ui import caches, keys, text
from aelab.ui.context import require_context
from aelab.ui.widgets import direction_slider, require_base, show

GRID_SCALE = 3  # enlargement of the walk grid on screen and in the PNG
SLIDERS_PX = 440  # the most height of the sliders' scrolling box: the pictures beside it stay in view
SLIDER_PX = 80  # one slider with its label, in that box
MAX_DIRECTIONS = 10
GIF_STEPS = 16  # frames of a walk's GIF, one way
KIND_HELP = {
    text.PCA: "where the dataset's codes spread most; each direction's share of their variance is in its label.",
    text.SEFA: "the unit moves of the code that change the decoder's first layer most, from its weights "
    "alone (eigenvectors of WᵀW); each one's share of the eigenvalues is in its label.",
    text.ATTRIBUTE: "the mean code of class B minus that of class A; the slider at its distance (in the "
    "label) moves A's mean code onto B's.",
    text.SELECTIONS: "the mean code of the group saved as B on the Latent map minus that of group A (draw a "
    "box or lasso there, then 'Use as group A' or 'B').",
}

ctx = require_context()

st.title("Directions")
st.caption(
    "Move an image's code along directions that mean something, not along raw latent axes. "
    f"Each slider spans ±{WALK_EXTENT:g} standard deviations of the dataset's codes along its direction; "
    "all sliders at 0 decode the base code."
)

base, base_image = require_base(ctx, keys.DIRECTIONS_BASE)

left, right = st.columns([3, 2])
kind = left.radio(
    "Directions from", list(text.DIRECTION_KINDS), format_func=text.DIRECTION_KINDS.get, key="dir_kind", horizontal=True
)
left.caption(f"{text.DIRECTION_KINDS[kind]}: {KIND_HELP[kind]}")
sides: tuple = (0, 1)
k = 1
if kind == text.SELECTIONS:
    groups = keys.groups(ctx.key)
    if groups is None:
        st.info(
            "Save two groups on the Latent map first: draw a box or a lasso, press 'Use as group A', "
            "then another and 'Use as group B'."
        )
        st.stop()
    sides = groups
    right.caption(f"Group A: {len(sides[0])} images; group B: {len(sides[1])} images.")
elif kind == text.ATTRIBUTE:
    names = ctx.labels()[1]
    a_col, b_col = right.columns(2)
    classes = range(len(names))
    sides = (
        a_col.selectbox(
            "Class A", classes, index=min(1, len(names) - 1), format_func=names.__getitem__, key="dir_class_a"
        ),
        b_col.selectbox(
            "Class B", classes, index=min(7, len(names) - 1), format_func=names.__getitem__, key="dir_class_b"
        ),
    )
else:
    most = min(MAX_DIRECTIONS, len(base))
    k = right.slider("Directions", 1, most, min(5, most), key="dir_k") if most > 1 else 1
try:
    found = caches.walks.directions(ctx.key, kind, k, sides)
except ValueError as err:
    st.error(str(err))
    st.stop()
# A slider's unit: one standard deviation of the data's codes along its direction (1 where there are none).
steps_unit = units(found)
labels = [text.direction_label(n, w, found.measure) for n, w in zip(found.names, found.weight)]
slider_keys = [f"dir_t_{i}" for i in range(len(labels))]


def reset() -> None:
    for key in slider_keys:
        st.session_state[key] = 0.0


# The sliders follow the base and the directions: a new one of either puts them back at 0.
signature = (ctx.key, base.tobytes(), kind, k, sides)
if st.session_state.get("dir_signature") != signature:
    st.session_state["dir_signature"] = signature
    reset()
for key in slider_keys:
    st.session_state.setdefault(key, 0.0)  # widget state is dropped while another page is shown
reconstruction = ctx.decode(base)[0]


@st.fragment
def explorer() -> None:
    """Sliders and the decode they produce: moving a slider reruns only this part of the page."""
    pictures, controls = st.columns([2, 3])
    with controls, st.container(height=min(SLIDERS_PX, 40 + SLIDER_PX * len(labels)), key="dir_sliders"):
        steps = np.array(
            [direction_slider(label, unit, key) for label, unit, key in zip(labels, steps_unit, slider_keys)],
            dtype=np.float32,
        )
    with pictures:
        code = code_at(base, found, steps)
        show([base_image, reconstruction, ctx.decode(code)[0]], ["base", "reconstruction", "current decode"])
        st.button("Reset to base", key="dir_reset", on_click=reset, icon=":material/restart_alt:")


explorer()

st.subheader("Walk grid")
st.caption(
    f"Each row walks the base code along one direction, from −{WALK_EXTENT:g} to +{WALK_EXTENT:g} standard "
    "deviations of the dataset's codes along it, as the sliders do; under each picture, the step in them (sd)."
)
steps = st.columns([2, 3])[0].slider("Steps per direction", 3, 15, 8, key="dir_grid_steps")
png = caches.walks.walk_grid_png(ctx.key, kind, k, sides, base.tobytes(), steps, GRID_SCALE)
st.image(png, caption="Rows, top to bottom: " + ", ".join(found.names), output_format="PNG")
stem = ctx.checkpoint.path.stem
st.download_button(
    "Download grid (PNG)",
    png,
    file_name=f"directions-{stem}.png",
    mime="image/png",
    on_click="ignore",
    icon=":material/download:",
    key="dir_grid_png",
)

st.subheader("GIF of one direction")
choice, animation = st.columns([2, 3])
# By name, without the shares that change with the model: another kind of directions has other names, so
# the box moves to its first instead of showing a name the GIF no longer walks.
row = found.names.index(choice.selectbox("Direction", found.names, key="dir_gif_row"))
gif = caches.walks.walk_gif(ctx.key, kind, k, sides, base.tobytes(), row, GIF_STEPS)
choice.download_button(
    "Download GIF",
    gif,
    file_name=f"direction-{stem}-{row + 1}.gif",
    mime="image/gif",
    on_click="ignore",
    icon=":material/download:",
    key="dir_gif",
)
animation.image(
    gif,
    caption=f"{found.names[row]}: there and back, {GIF_STEPS} steps each way",
    width=caches.walks.GIF_SCALE * base_image.shape[1],
)  # as made, not stretched to the column
