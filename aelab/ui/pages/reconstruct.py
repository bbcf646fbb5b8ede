"""Reconstruct: your own images (or a test image) through the model, with an anomaly score a person can read.

Uploads are prepared MNIST's way once per uploaded file and kept in the session, where the
other pages find them.
"""

import numpy as np
import streamlit as st

from aelab.data.registry import dataset_title
from aelab.explore import anomaly, encoding
from aelab.images import render
from aelab.ui import caches, keys
from aelab.ui.context import Context, require_context
from aelab.ui.posterior import posterior_panel
from aelab.ui.text import ANOMALY_NOTE, markdown_safe, upload_recipe
from aelab.ui.uploads import STEP_PX, take_uploads
from aelab.ui.widgets import show

SCALE = 4  # enlargement of the 28x28 model input, reconstruction and difference
FORMATS = "PNG, JPEG, BMP, GIF, WebP"


def random_index(n: int) -> None:
    st.session_state["test_index"] = int(np.random.default_rng().integers(n))


def score(ctx: Context, pictures: np.ndarray) -> list[tuple[str, list[np.ndarray]]]:
    """Per picture (as the model takes them): its score sentence, and model input, reconstruction and |difference|."""
    x = render.to_tensor(pictures, ctx.shape)
    recon = encoding.reconstruct(ctx.model, x)
    maps = anomaly.error_maps(ctx.model, x)
    reference = caches.scores.reference_scores(ctx.key)
    name = f"{dataset_title(ctx.dataset)} test"
    threshold = st.session_state.get(
        keys.anomaly_threshold_key(ctx.checkpoint.digest, ctx.dataset), anomaly.threshold_at(reference)
    )  # the Anomaly page's, once it was set
    scores = caches.scores.typicality(ctx.key, pictures)
    return [
        (anomaly.score_sentence(float(v), reference, name, threshold), [p, r, np.sqrt(m)])
        for v, p, r, m in zip(scores, pictures, recon, maps)
    ]


def result_row(sentence: str, trio: list[np.ndarray]) -> None:
    left, right = st.columns([3, 2], vertical_alignment="center")
    with left:
        show(trio, ["model input", "reconstruction", "difference"], scale=SCALE)
    right.markdown(sentence)


ctx = require_context()

st.title("Reconstruct")
st.caption(f"{upload_recipe(ctx.shape)} {ANOMALY_NOTE}")

upload_col, side_col = st.columns([3, 2])
with upload_col:
    files = st.file_uploader(
        f"Images ({FORMATS})",
        accept_multiple_files=True,
        key="uploader",
        help="One or many, up to 10 MB each. Dark ink on light paper and light on dark both work.",
    )
    for message in take_uploads(files, "upload_seen", ctx.shape, keep_steps=True):
        st.error(message, icon=":material/error:")
uploads = keys.uploads()
with side_col:
    st.caption(f"{len(uploads)} image(s) kept for the other pages (Latent map, Traverse, Interpolate, Anomaly).")
    st.button(
        "Clear uploads",
        key="clear_uploads",
        on_click=keys.clear_uploads,
        disabled=not uploads,
        help="Forget every uploaded image, here and on the other pages. Files still listed in the "
        "uploader stay forgotten until uploaded again.",
    )

if uploads:
    st.subheader("Your images")
    names = list(uploads)[::-1]  # newest first
    steps = keys.upload_steps()
    for name, (sentence, trio) in zip(names, score(ctx, render.fit_all([uploads[n] for n in names], ctx.shape))):
        with st.container(border=True):
            st.markdown(f"**{markdown_safe(name)}**")
            if name in steps:
                titles, pngs = zip(*steps[name])
                st.image(list(pngs), caption=list(titles), width=STEP_PX, output_format="PNG")
            result_row(sentence, trio)
elif not files:  # files that could not be read have said why above
    st.info("Nothing uploaded yet: upload an image above, or pick a test image below.")

st.subheader("Draw or pick a test image instead")
pick_col, draw_col = st.columns([3, 2], vertical_alignment="bottom")
index = pick_col.number_input("Test image index", 0, len(ctx.data) - 1, key="test_index")
draw_col.button("Draw one at random", key="test_random", on_click=random_index, args=(len(ctx.data),))
st.caption(f"Label: {ctx.data.label_name(index)}")
result_row(*score(ctx, render.to_pictures(ctx.images[index : index + 1]))[0])

st.subheader("The posterior")
choices = [f"test image {index}", *uploads]
chosen = st.selectbox("Image", choices, key="posterior_image")
if chosen == choices[0]:
    picture = ctx.images[index : index + 1]
else:
    picture = render.to_tensor(render.fit_all([uploads[chosen]], ctx.shape), ctx.shape)
posterior_panel(ctx, picture, "reconstruct_posterior")
