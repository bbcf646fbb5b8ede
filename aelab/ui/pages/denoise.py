"""Denoise: corrupt images, then clean them with a model trained to denoise and with a plain one.

Both models get the very same noisy input (one seeded noise draw), so the PSNR figures
differ only by what the models learnt.
"""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from aelab.data.dataset import sample_indices
from aelab.data.registry import dataset_title
from aelab.explore import encoding
from aelab.images import render
from aelab.models import noise
from aelab.store.checkpoints import Checkpoint
from aelab.training.runs import denoise_defaults, label_for
from aelab.ui import caches, keys
from aelab.ui.context import model_options, require_context
from aelab.ui.text import MAX_INDICES, parse_indices
from aelab.ui.widgets import pick_model, show

SOURCES = ["Dataset indices", "Random", "Uploads"]
SCALE = 3


def pick_with_note(title: str, options: dict[str, str], default: str, key: str) -> Checkpoint | None:
    checkpoint = pick_model(title, options, default, key)
    if checkpoint is not None:
        st.caption(noise.denoising_note(checkpoint.meta.get("train")))
    return checkpoint


ctx = require_context()

st.title("Denoise")
st.caption(
    "Corrupt images with noise, then reconstruct them. A model trained on noisy inputs with clean targets "
    "learns to remove the noise; a plain autoencoder tends to reproduce it. PSNR (higher is better) is "
    "measured against the clean image."
)

options = model_options(shape=ctx.shape)
metas = {str(item.path): item.meta for item in caches.models.listing() if item.meta}
default_a, default_b, any_denoiser = denoise_defaults(options, metas)
if not any_denoiser:
    st.info(
        f"No model for these {ctx.shape[1]}x{ctx.shape[2]} pictures was trained to denoise, so none here "
        "removes noise: below, how plain models cope with it. Train one with noise on the Train page.",
        icon=":material/info:",
    )
noise_col, model_a_col, model_b_col = st.columns([2, 2, 2])
with noise_col:
    kind = st.radio("Noise", noise.NOISE_KINDS, format_func=noise.NOISE_TITLES.get, horizontal=True, key="denoise_kind")
    level = st.slider("Level", 0.05, 0.9, 0.3, 0.05, key="denoise_level", help=noise.LEVEL_HELP[kind])
    noise_seed = int(st.number_input("Noise seed", 0, 2**31 - 1, 0, key="denoise_noise_seed"))
with model_a_col:
    picked_a = pick_with_note("Denoising model" if any_denoiser else "Model A", options, default_a, "denoise_model_a")
with model_b_col:
    picked_b = pick_with_note("Plain model" if any_denoiser else "Model B", options, default_b, "denoise_model_b")
if picked_a is None or picked_b is None:
    st.stop()
models = [(label_for(c.path), c) for c in (picked_a, picked_b)]
if picked_a.digest == picked_b.digest:  # one model is shown once, not compared with itself
    models = models[:1]
    st.caption("Both pickers chose the same model: it is shown once. Pick another to compare two.")

source = st.radio("Images", SOURCES, horizontal=True, key="denoise_source")
if source == "Uploads":
    uploads = keys.uploads()
    if not uploads:
        st.info("No uploads yet: add images on the Reconstruct or Anomaly page, or pick test images instead.")
        st.stop()
    names = st.multiselect(
        "Uploaded images",
        list(uploads),
        default=list(uploads)[:MAX_INDICES],
        max_selections=MAX_INDICES,
        key="denoise_uploads",
    )
    if not names:
        st.info("Choose at least one uploaded image.")
        st.stop()
    clean = render.fit_all([uploads[name] for name in names], ctx.shape)
else:
    indices: list[int] | np.ndarray  # typed by the person, or drawn at random
    if source == "Dataset indices":
        try:
            indices = parse_indices(
                st.text_input("Test image indices", "0, 1, 2, 3", key="denoise_indices"), len(ctx.data)
            )
        except ValueError as err:
            st.error(str(err))
            st.stop()
    else:
        left, right = st.columns(2)
        count = left.slider("How many", 1, MAX_INDICES, 6, key="denoise_count")
        indices = sample_indices(
            len(ctx.data), count, int(right.number_input("Seed", 0, 2**31 - 1, 0, key="denoise_image_seed"))
        )
    clean = render.to_pictures(ctx.images[indices])
    names = [f"test {i}" for i in indices]

x = render.to_tensor(clean, ctx.shape)
noisy = noise.add_noise(x, kind, level, torch.Generator().manual_seed(noise_seed))
outputs = [render.to_tensor(encoding.reconstruct(ckpt.model, noisy), ctx.shape) for _, ckpt in models]
psnr_noisy = noise.psnr(x, noisy).numpy()
psnr_out = [noise.psnr(x, out).numpy() for out in outputs]

st.subheader("Clean, noisy, and each model's output")
titles = ["clean", "noisy", *(label for label, _ in models)]
for column, title in zip(st.columns(len(titles)), titles):
    column.markdown(f"**{title}**")
pictures, captions = [], []
for i, name in enumerate(names):  # short captions: a caption wider than its image stretches the image
    pictures += [clean[i], *(render.to_pictures(batch[i : i + 1])[0] for batch in (noisy, *outputs))]
    captions += [name, f"{psnr_noisy[i]:.1f} dB", *(f"{out[i]:.1f} dB" for out in psnr_out)]
show(pictures, captions, scale=SCALE, columns=len(titles))
st.caption("Under each output: its PSNR against the clean image, in dB.")

st.subheader(f"Mean PSNR over {min(caches.scores.PSNR_IMAGES, len(ctx.data))} test images")
rows = []
for label, ckpt in models:
    before, after = caches.scores.mean_psnr(ctx.with_checkpoint(ckpt).key, kind, level, noise_seed)
    rows.append(
        {
            "": label,
            "trained": noise.denoising_note(ckpt.meta.get("train")),
            "mean PSNR (dB)": round(after, 2),
            "gain over noisy (dB)": round(after - before, 2),
        }
    )
rows.insert(0, {"": "noisy input", "trained": "", "mean PSNR (dB)": round(before, 2), "gain over noisy (dB)": 0.0})
st.dataframe(pd.DataFrame(rows), hide_index=True)
st.caption(
    f"{noise.NOISE_TITLES[kind]} noise at level {level:g}, seed {noise_seed}; the first "
    f"{caches.scores.PSNR_IMAGES} test images of {dataset_title(ctx.dataset)}. Cached: changing the shown "
    "images does not recompute it."
)
