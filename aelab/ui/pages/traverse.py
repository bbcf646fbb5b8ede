"""Traverse: move one latent dimension at a time from a base code and watch the decode change (along principal
directions, for a spatial code: aelab/ui/traverse_spatial.py)."""

import numpy as np
import streamlit as st

from aelab.data.registry import factor_names
from aelab.explore import spatial
from aelab.explore.metrics import ACTIVE_UNIT_THRESHOLD
from aelab.ui import caches, keys, text, traverse_spatial
from aelab.ui.context import require_context
from aelab.ui.widgets import require_base, show, traversal_grid

GRID_SCALE = 3  # enlargement of the traversal grid on screen and in the PNG
SLIDERS_PX = 440  # height of the sliders' scrolling box: the pictures beside it stay in view

ctx = require_context()

st.title("Traverse")
shape = spatial.spatial_shape(getattr(ctx.config, "code_shape", ()))
if shape is None:
    st.caption(
        "Start from one image's code and move along one latent dimension at a time. "
        "Dimensions are ranked by how much the model uses them; slider ranges span the dataset's codes "
        "from the 1st to the 99th percentile."
    )
else:
    st.caption("Start from one image's code and move it along the principal directions of the dataset's codes.")

base, base_image = require_base(ctx, keys.TRAVERSE_BASE)
if shape is not None:  # a spatial code: principal directions and the code's channels, not a slider per number
    traverse_spatial.draw(ctx, base, base_image, shape)
    st.stop()
stats = caches.codes.dim_stats(ctx.key)
dims = range(len(base))
low = np.minimum(stats.low, base)  # an upload may lie outside the data's range: keep it reachable
high = np.maximum(np.maximum(stats.high, base), low + 1e-3)
unit = "KL" if stats.measure.startswith("KL") else "var"


factors = caches.codes.dimension_factors(ctx.key) if factor_names(ctx.dataset) else None


def slider_label(d: int) -> str:
    """E.g. 'dim 7 · KL 0.00 · collapsed', or on data with known factors 'dim 3 · KL 1.20 · mixes x (35%) and
    colour (20%)' (text.follows):
    what the dimension carries, in the model's own measure."""
    label = f"dim {d} · {unit} {stats.importance[d]:.2f}"
    if stats.collapsed[d]:
        return f"{label} · collapsed"
    return label if factors is None else f"{label} · {text.follows(factors[d])}"


def reset_to_base(code: np.ndarray) -> None:
    for d, value in enumerate(code):
        st.session_state[f"z_{d}"] = float(value)


# The sliders follow the base: a new base (or model, or dataset) puts them back on its code.
signature = (ctx.key, base.tobytes())
if st.session_state.get("traverse_base") != signature:
    if st.session_state.get("traverse_base", (None,))[0] != ctx.key:
        st.session_state["grid_dims"] = [int(d) for d in stats.order[:5]]
    st.session_state["traverse_base"] = signature
    reset_to_base(base)
for d in dims:
    key = f"z_{d}"
    if key not in st.session_state:  # widget state is dropped while another page is shown
        st.session_state[key] = float(base[d])
    else:
        st.session_state[key] = float(np.clip(st.session_state[key], low[d], high[d]))
reconstruction = ctx.decode(base)[0]


@st.fragment
def explorer() -> None:
    """Sliders and the decode they produce: moving a slider reruns only this part of the page."""
    pictures, controls = st.columns([2, 3])
    code = np.empty(len(base), dtype=np.float32)
    with controls, st.container(height=SLIDERS_PX, key="z_sliders"):
        active = [int(d) for d in stats.order if not stats.collapsed[d]]
        collapsed = [int(d) for d in stats.order if stats.collapsed[d]]
        for d in active:
            code[d] = dim_slider(d)
        if collapsed:
            with st.expander(f"{len(collapsed)} collapsed dimension(s): the model ignores them"):
                for d in collapsed:
                    code[d] = dim_slider(d)
    with pictures:
        show([base_image, reconstruction, ctx.decode(code)[0]], ["base", "reconstruction", "current decode"])
        st.button("Reset to base", key="z_reset", on_click=reset_to_base, args=(base,), icon=":material/restart_alt:")


def dim_slider(d: int) -> float:
    step = float(high[d] - low[d]) / 100
    return st.slider(slider_label(d), float(low[d]), float(high[d]), step=step, format="%.2f", key=f"z_{d}")


st.subheader("Dimensions")
st.caption(
    f"Ranked by {stats.measure}, most used first. {int((~stats.collapsed).sum())} of {len(base)} are active: "
    f"their code varies across the dataset with variance above {ACTIVE_UNIT_THRESHOLD:g}, the model card's "
    "rule for active units."
    + (" The others are collapsed." if stats.collapsed.any() else "")
    + (
        ""
        if factors is None
        else " Each slider names the two known factors its dimension carries most of, as the share of each "
        "factor's information (mutual information over the factor's entropy) the dimension holds."
    )
)
explorer()

st.subheader("Traversal grid")
st.caption(
    "Each row sweeps one dimension from its 1st to its 99th percentile, the value under each picture; every "
    "other dimension stays at the base code."
)
if "grid_dims" not in st.session_state:
    st.session_state["grid_dims"] = [int(d) for d in stats.order[:5]]
left, right = st.columns([3, 1])
chosen = left.multiselect("Dimensions (rows)", [int(d) for d in stats.order], key="grid_dims", format_func=slider_label)
steps = right.slider("Values per dimension", 3, 15, 8, key="grid_steps")
if not chosen:
    st.info("Choose at least one dimension to draw the grid.")
    st.stop()
png = caches.walks.traversal_png(ctx.key, base.tobytes(), tuple(chosen), steps, GRID_SCALE)
traversal_grid(ctx, png, [f"dim {d}" for d in chosen], "grid_png")
