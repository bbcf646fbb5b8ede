"""Latent map: the dataset's codes in 2-D (PCA or t-SNE), coloured by label; click to inspect."""

import numpy as np
import streamlit as st

from aelab import latent
from aelab.data import dataset_title
from aelab.ui import cached, figures, keys
from aelab.ui.context import require_context
from aelab.ui.widgets import show

ctx = require_context()

st.title("Latent map")
mu = ctx.codes().mu
controls, chart_col, detail = st.columns([1, 3, 1.4])

with controls:
    method = st.radio("Projection", ["PCA", "t-SNE"], key="map_method",
                      help="PCA is linear and invertible (click anywhere to decode); t-SNE keeps neighbours together.")
    if method == "PCA":
        projection = cached.pca_map(*ctx.key)
        ratio = projection.params["explained_variance_ratio"]
        st.caption(f"The two axes explain {100 * sum(ratio):.0f}% of the codes' variance.")
    else:
        n_points = st.select_slider("Points", [1000, 2000, 5000, 10000], value=min(5000, len(mu)), key="tsne_points")
        tsne_args = (min(n_points, len(mu)), float(st.slider("Perplexity", 5, 100, 30, key="tsne_perplexity")))
        projection = cached.stored_tsne(*ctx.key, *tsne_args)
        if projection is None:
            st.info("This t-SNE map has not been computed yet: it takes about half a minute, once.")
            if not st.button("Compute t-SNE", type="primary", key="tsne_go"):
                st.stop()
            bar = st.progress(0.0, text="Optimising t-SNE…")
            projection = cached.tsne_map(*ctx.key, *tsne_args,
                                         progress=lambda f: bar.progress(f, text=f"Optimising t-SNE… {100 * f:.0f}%"))
            bar.empty()

labels = ctx.data.labels.numpy()[projection.index]
classes = ctx.data.classes
fig = figures.latent_map(projection.coords, projection.index, labels, len(classes), method,
                         clickable_cells=method == "PCA")


def place(codes: np.ndarray) -> np.ndarray:
    if method == "PCA":
        return latent.pca_transform(projection, codes)
    return cached.tsne_placer(*ctx.key, projection.params["n_points"], projection.params["perplexity"])(codes)


uploads = keys.uploads()
if uploads:
    figures.add_uploads(fig, place(ctx.encode(np.stack(list(uploads.values())))), list(uploads))
path = keys.interpolation_path(ctx.checkpoint.digest)
if path is not None:
    figures.add_path(fig, place(path))


def on_select() -> None:
    """Turn a click into the selected dataset index or, on a PCA map's empty space, a location."""
    points = st.session_state["latent_map"].selection.points
    if not points:
        return
    point = points[0]
    if point.get("curve_number") == figures.MAP_POINTS:
        st.session_state[keys.SELECTED_INDEX] = int(projection.index[point["point_index"]])
        st.session_state.pop(keys.MAP_LOCATION, None)
    elif point.get("curve_number") == figures.MAP_CELLS:
        st.session_state[keys.MAP_LOCATION] = (float(point["x"]), float(point["y"]))


with chart_col:
    st.markdown(" ".join(f"<span style='color:{c}'>●</span> {name}"
                         for c, name in zip(figures.class_colours(len(classes)), classes)), unsafe_allow_html=True)
    st.plotly_chart(fig, key="latent_map", on_select=on_select, selection_mode="points",
                    config={"scrollZoom": True, "displaylogo": False})
    st.caption(f"{len(projection.coords)} of {len(ctx.data)} test images of {dataset_title(ctx.dataset)}. "
               "Click a point to inspect it" + ("; click between points to decode that location."
                                                if method == "PCA" else "."))

with detail:
    location = st.session_state.get(keys.MAP_LOCATION)
    index = keys.selected_index()
    if location is not None and method == "PCA":
        st.subheader("Decoded location")
        show([ctx.decode(projection.inverse(np.array(location)))[0]], f"PCA ({location[0]:.2f}, {location[1]:.2f})",
             scale=6)
        st.caption("The code is the PCA inverse of this spot: the map's two axes, the rest at the mean.")
    elif index is not None and index < len(ctx.data):
        st.subheader(f"Image {index}")
        image = ctx.data.images[index:index + 1]
        show([image[0, 0].numpy(), latent.reconstruct(ctx.model, image)[0]],
             [f"original · label {ctx.data.label_name(index)}", "reconstruction"], scale=4)
        st.caption(f"Reconstruction error {cached.errors(*ctx.key)[index]:.4f} (mean squared, per pixel)")
        for picker, label, role, key in ((keys.INTERP_A, "interpolation A", "interpolation endpoint A", "use_a"),
                                         (keys.INTERP_B, "interpolation B", "interpolation endpoint B", "use_b"),
                                         (keys.TRAVERSE_BASE, "traversal base", "the traversal base", "use_base")):
            if st.button(f"Use as {label}", key=key, width="stretch"):
                picker.send(index)
                st.toast(f"Image {index} is {role}")
    else:
        st.info("Click a point on the map to see its image and reconstruction.")
