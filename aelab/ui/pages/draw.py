"""Draw: a digit drawn with the mouse, and as it is drawn its model input, reconstruction and place on the map."""

import numpy as np
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from aelab.explore import projections
from aelab.images.inputs import prepare_for, spec_for
from aelab.images.reading import ImageError
from aelab.models.config import shape_text
from aelab.ui import caches, map_figure, map_layers, uploads
from aelab.ui.context import require_context
from aelab.ui.widgets import show

CANVAS_PX = 280  # ten canvas pixels to a pixel of MNIST's 28x28
STROKE_PX = 20  # about a pen's stroke on MNIST's scale once the digit is fitted to its 20x20 box

ctx = require_context()
st.title("Draw")
digits = spec_for(ctx.shape, digits=True).digits  # a digit model takes a drawing by MNIST's recipe
what = "a digit" if digits else "a picture"
sees = "MNIST's recipe: cropped, fitted to 20x20, centred" if digits else f"the square made {shape_text(ctx.shape)}"
st.caption(
    f"Draw {what} on the black square with the mouse. After each stroke the page shows what the model "
    f"sees ({sees}), its reconstruction, and where the drawing "
    "falls on the PCA latent map. The toolbar above the square undoes a stroke or clears it."
)
st.space("medium")  # room for the canvas's toolbar, which floats above it
canvas_col, pictures, map_col = st.columns([1.3, 1, 1.5])
with canvas_col:
    drawn = st_canvas(
        stroke_width=STROKE_PX,
        stroke_color="#ffffff",
        background_color="#000000",
        height=CANVAS_PX,
        width=CANVAS_PX,
        drawing_mode="freedraw",
        return_image_data=True,
        key="draw_canvas",
    )
try:
    if drawn.image_data is None:
        raise ImageError("Nothing drawn yet.")
    drawing = Image.fromarray(np.asarray(drawn.image_data, dtype=np.uint8), "RGBA")
    prepared = prepare_for(ctx.shape, drawing, digits=True, with_steps=False)  # MNIST's recipe for a digit model
except ImageError:
    pictures.info(f"Draw {what} on the black square: its reconstruction and its place on the map appear here.")
    st.stop()

code = ctx.encode(prepared.image[None])
with pictures:
    show([prepared.image, ctx.decode(code)[0]], ["model input", "reconstruction"], scale=4)
    if st.button(
        "Keep as an upload",
        key="draw_keep",
        icon=":material/add_photo_alternate:",
        help="Other pages (Interpolate, Traverse, Directions, Anomaly) then offer it like an uploaded image.",
    ):
        st.toast(f"Kept as {uploads.keep('drawing', prepared.image)}")
with map_col:
    labels, classes = ctx.labels()
    projection = caches.maps.pca(ctx.key)
    fig = map_figure.latent_map(
        projection.coords, projection.index, labels[projection.index], len(classes), "PCA", clickable_cells=False
    )
    map_layers.add_uploads(fig, projections.pca_transform(projection, code), [""], title="your drawing")
    fig.update_layout(height=map_figure.SMALL_MAP_PX)
    st.html(map_figure.class_legend(classes))  # the map's colours by name, as on the Latent map page
    st.plotly_chart(fig, key="draw_map", config={"displaylogo": False})
