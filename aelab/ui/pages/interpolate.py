"""Interpolate: decode the path between two codes, and the same two images through a second model."""

import numpy as np
import pandas as pd
import streamlit as st

from aelab.explore import walks
from aelab.images import render
from aelab.ui import caches, keys, text
from aelab.ui.context import require_context
from aelab.ui.widgets import comparison_picker, pick_latent, picture_with_download

METHODS = {"linear": "Linear", "slerp": "Spherical (slerp)"}
FRAMES_PER_ROW = 12  # a longer strip wraps, so that frames keep a readable size
GIF_SCALE = 8  # the animation's frames are 224 px for digits (images.display_scale: 256 px at 64x64)

ctx = require_context()


st.title("Interpolate")
st.caption(
    "Walk in a straight line (or along a great circle) from one image's code to another's and decode "
    "every step. A good latent space passes through pictures like the data; a path through empty space "
    "decodes pictures like nothing the model draws for a real image."
)

if len(ctx.data) > 1:
    st.session_state.setdefault(keys.INTERP_B.default, 1)  # B starts on another image than A
left, right = st.columns(2)
with left:
    picked_a = pick_latent("A", ctx, keys.INTERP_A)
with right:
    picked_b = pick_latent("B", ctx, keys.INTERP_B)
if picked_a is None or picked_b is None:
    st.stop()

controls = st.columns([1, 2, 2])
steps = controls[0].slider("Steps", 3, 24, 10, key="interp_steps")
method = controls[1].radio(
    "Path",
    list(METHODS),
    format_func=METHODS.get,
    horizontal=True,
    key="interp_method",
    help="Spherical interpolation keeps the code's norm typical of a Gaussian prior "
    "instead of cutting through the low-density centre.",
)
with controls[2]:
    other = comparison_picker(ctx, key="interp_compare")

endpoints = np.stack([picked_a[1], picked_b[1]])
runs = [(ctx, np.stack([picked_a[0], picked_b[0]]))]
if other is not None:
    runs.append((other, other.encode(endpoints)))  # the same two images, encoded by the second model

distances = {}
for column, (run_ctx, (a, b)) in zip(st.columns(len(runs)), runs):
    primary = run_ctx is ctx
    path = walks.interpolate(a, b, steps, method)
    frames = run_ctx.decode(path)
    name = run_ctx.checkpoint.path.stem
    off_data = walks.distances_from_data(frames, caches.scores.reconstructions(run_ctx.key))
    distances[name if primary else f"{name} (compared)"] = off_data
    strip = render.make_grid(frames, ncol=render.wrap_columns(steps, FRAMES_PER_ROW))
    with column:
        st.markdown(f"**{name}**")
        caption = f"distance from the data: {off_data.mean():.2f} on average over the frames (lower is closer)"
        if not primary:
            st.image(render.to_png(render.enlarge(strip, 3)), caption=caption, output_format="PNG")
            continue
        keys.set_interpolation_path(path, ctx.checkpoint.digest)
        picture_with_download(strip, caption, f"interpolation-{name}.png", "interp_png", label="Strip (PNG)")
        gif = render.to_gif(
            [render.enlarge(f, render.display_scale(GIF_SCALE, f.shape[0])) for f in frames], duration_ms=150
        )
        st.download_button(
            "Animation (GIF)",
            gif,
            file_name=f"interpolation-{name}.gif",
            mime="image/gif",
            on_click="ignore",
            icon=":material/download:",
            key="interp_gif",
        )

st.markdown("**Distance from the data at each frame**")
chart = pd.DataFrame(distances, index=pd.RangeIndex(0, steps, name="frame"))
st.line_chart(chart, x_label="frame", y_label="pixel distance", height=220)
st.caption(text.OFF_DATA)
