"""Latent map: the dataset's codes in 2-D (PCA or t-SNE), coloured by label; click to inspect."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from aelab import cache, latent
from aelab.ui import state

GRID = 36  # clickable cells per axis on a PCA map: a click between points decodes that spot
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]

ctx = state.require_context()

st.title("Latent map")
mu = ctx.codes().mu
controls, chart_col, detail = st.columns([1, 3, 1.4])

with controls:
    method = st.radio("Projection", ["PCA", "t-SNE"], key="map_method",
                      help="PCA is linear and invertible (click anywhere to decode); t-SNE keeps neighbours together.")
    if method == "PCA":
        projection = state.pca_map(*ctx.key)
        ratio = projection.params["explained_variance_ratio"]
        st.caption(f"The two axes explain {100 * sum(ratio):.0f}% of the codes' variance.")
    else:
        n_points = st.select_slider("Points", [1000, 2000, 5000, 10000], value=min(5000, len(mu)), key="tsne_points")
        n_points = min(n_points, len(mu))
        perplexity = st.slider("Perplexity", 5, 100, 30, key="tsne_perplexity")
        key = cache.cache_key(ctx.checkpoint.digest, ctx.dataset, ctx.split, "tsne", n_points, float(perplexity))
        projection = state.stored_projection(key, "tsne")
        if projection is None:
            st.info("This t-SNE map has not been computed yet: it takes about half a minute, once.")
            if not st.button("Compute t-SNE", type="primary", key="tsne_go"):
                st.stop()
            bar = st.progress(0.0, text="Optimising t-SNE…")
            projection = state.tsne_map(*ctx.key, n_points, float(perplexity),
                                        progress=lambda f: bar.progress(f, text=f"Optimising t-SNE… {100 * f:.0f}%"))
            bar.empty()

labels = ctx.data.labels.numpy()[projection.index]
classes = ctx.data.classes
coords = projection.coords


colours = [PALETTE[i % len(PALETTE)] for i in range(len(classes))] + ["#444444"]  # last: unlabelled
# Colour by class number through a stepped colour scale: Plotly validates 10k numbers at once
# but 10k colour strings one by one (half a second on every rerun of this page).
steps = [(edge / len(colours), colour) for i, colour in enumerate(colours) for edge in (i, i + 1)]
fig = go.Figure()
fig.add_trace(go.Scattergl(
    x=coords[:, 0], y=coords[:, 1], mode="markers", name="dataset",
    marker=dict(size=4, color=np.where(labels >= 0, labels, len(classes)), colorscale=steps, cmin=-0.5,
                cmax=len(colours) - 0.5, opacity=0.75),
    customdata=np.c_[projection.index, labels],
    hovertemplate="label %{customdata[1]}<br>index %{customdata[0]}<extra></extra>",
))
if method == "PCA":  # near-invisible clickable cells, so a click on empty space lands on one
    xs = np.linspace(coords[:, 0].min(), coords[:, 0].max(), GRID)
    ys = np.linspace(coords[:, 1].min(), coords[:, 1].max(), GRID)
    gx, gy = np.meshgrid(xs, ys)
    fig.add_trace(go.Scattergl(x=gx.ravel(), y=gy.ravel(), mode="markers", name="decode here",
                               marker=dict(size=14, color="rgba(0,0,0,0.01)"),
                               hovertemplate="decode (%{x:.2f}, %{y:.2f})<extra></extra>"))


def place(codes: np.ndarray) -> np.ndarray:
    if method == "PCA":
        return latent.pca_transform(projection, codes)
    return state.tsne_placer(*ctx.key, projection.params["n_points"], projection.params["perplexity"])(codes)


uploads = st.session_state.get("uploads", {})
if uploads:
    xy = place(ctx.encode(np.stack(list(uploads.values()))))
    fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers+text", name="uploads", text=list(uploads),
                               textposition="top center",
                               marker=dict(size=14, symbol="star", color="black", line=dict(width=1, color="white"))))
path = st.session_state.get("interp_path")
if path is not None and st.session_state.get("interp_path_digest") == ctx.checkpoint.digest:
    xy = place(path)
    fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name="interpolation",
                             line=dict(color="black", width=2), marker=dict(size=6, color="black")))
fig.update_layout(height=620, margin=dict(l=10, r=10, t=30, b=10), showlegend=False, dragmode="pan",
                  clickmode="event+select", xaxis_title=f"{method} 1", yaxis_title=f"{method} 2")

legend = " ".join(f"<span style='color:{c}'>●</span> {name}" for c, name in zip(colours, classes))


def on_select() -> None:
    """Turn a click into the selected dataset index or, on a PCA map's empty space, a location."""
    points = st.session_state["latent_map"].selection.points
    if not points:
        return
    point = points[0]
    if point.get("curve_number") == 0:
        st.session_state["selected_index"] = int(projection.index[point["point_index"]])
        st.session_state.pop("map_location", None)
    elif point.get("curve_number") == 1:
        st.session_state["map_location"] = (float(point["x"]), float(point["y"]))


with chart_col:
    st.markdown(legend, unsafe_allow_html=True)
    st.plotly_chart(fig, key="latent_map", on_select=on_select, selection_mode="points",
                    config={"scrollZoom": True, "displaylogo": False})
    st.caption(f"{len(coords)} of {len(ctx.data)} test images of {ctx.dataset}. Click a point to inspect it"
               + ("; click between points to decode that location." if method == "PCA" else "."))

with detail:
    location = st.session_state.get("map_location")
    index = st.session_state.get("selected_index")
    if location is not None and method == "PCA":
        st.subheader("Decoded location")
        state.show([ctx.decode(projection.inverse(np.array(location)))[0]], f"PCA ({location[0]:.2f}, {location[1]:.2f})",
                   scale=6)
        st.caption("The code is the PCA inverse of this spot: the map's two axes, the rest at the mean.")
    elif index is not None and index < len(ctx.data):
        st.subheader(f"Image {index}")
        image = ctx.data.images[index:index + 1]
        state.show([image[0, 0].numpy(), latent.reconstruct(ctx.model, image)[0]],
                   [f"original · label {ctx.data.label_name(index)}", "reconstruction"], scale=4)
        st.caption(f"Reconstruction error {state.errors(*ctx.key)[index]:.4f} (mean squared, per pixel)")
        if st.button("Use as interpolation A", key="use_a", width="stretch"):
            st.session_state.update(a_source="Dataset index", a_index=index)
            st.toast(f"Image {index} is interpolation endpoint A")
        if st.button("Use as interpolation B", key="use_b", width="stretch"):
            st.session_state.update(b_source="Dataset index", b_index=index)
            st.toast(f"Image {index} is interpolation endpoint B")
        if st.button("Use as traversal base", key="use_base", width="stretch"):
            st.session_state.update(base_source="Dataset index", base_index=index)
            st.toast(f"Image {index} is the traversal base")
    else:
        st.info("Click a point on the map to see its image and reconstruction.")
