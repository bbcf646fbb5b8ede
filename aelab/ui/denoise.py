"""Denoise: corrupt images, then clean them with a model trained to denoise and with a plain one.

Both models get the very same noisy input (one seeded noise draw), so the PSNR figures
differ only by what the models learnt.
"""

import re

import numpy as np
import pandas as pd
import streamlit as st
import torch

from aelab import latent, noise
from aelab.checkpoints import Checkpoint, read_metadata
from aelab.ui import state

KINDS = {"gaussian": "Gaussian", "salt_pepper": "Salt-and-pepper", "mask": "Masking"}
LEVEL_HELP = {"gaussian": "Standard deviation of the noise added to every pixel (pixels lie in [0, 1]).",
              "salt_pepper": "Fraction of pixels set to black or white at random.",
              "mask": "Fraction of pixels blanked (set to black)."}
SOURCES = ["Dataset indices", "Random", "Uploads"]
MAX_IMAGES = 12
PSNR_IMAGES = 500  # test images behind the mean-PSNR table
SCALE = 3


def denoising_note(meta: dict) -> str:
    train = meta.get("train") or {}
    if not train.get("noise"):
        return "not trained to denoise"
    kind = KINDS.get(train["noise"], train["noise"]).lower()
    return f"trained to remove {kind} noise at level {train.get('noise_level')}"


def default_label(options: dict[str, str], wanted: str, denoising: bool) -> str:
    """`wanted` when shipped, else the first model that was (or was not) trained to denoise."""
    if wanted in options:
        return wanted
    for label, path in options.items():
        if bool((read_metadata(path).get("train") or {}).get("noise")) == denoising:
            return label
    return next(iter(options))


def pick_model(title: str, options: dict[str, str], default: str, key: str) -> Checkpoint | None:
    checkpoint = state.pick_model(title, options, default, key)
    if checkpoint is not None:
        st.caption(denoising_note(checkpoint.meta))
    return checkpoint


def parse_indices(text: str, n: int) -> list[int]:
    """'3, 17 42' -> [3, 17, 42]; raises ValueError with a sentence for the person who typed it."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    if not parts:
        raise ValueError("Type at least one test image index, e.g. 0, 1, 2.")
    if not all(p.isdigit() for p in parts):
        raise ValueError(f"Indices must be whole numbers from 0 to {n - 1}, separated by commas.")
    indices = [int(p) for p in parts]
    outside = [i for i in indices if i >= n]
    if outside:
        raise ValueError(f"Index {outside[0]} is outside the test set (0 to {n - 1}).")
    if len(indices) > MAX_IMAGES:
        raise ValueError(f"At most {MAX_IMAGES} images at once.")
    return indices


@st.cache_data(show_spinner="Measuring PSNR on test images…", max_entries=64)
def mean_psnr(path: str, digest: str, dataset: str, kind: str, level: float, seed: int) -> tuple[float, float]:
    """Mean PSNR (dB) of the noisy input and of the model's output over the first test images."""
    clean = state.load_data(dataset, "test").images[:PSNR_IMAGES]
    noisy = noise.add_noise(clean, kind, level, torch.Generator().manual_seed(seed))
    output = torch.from_numpy(latent.reconstruct(state.load_model(path, digest).model, noisy)).unsqueeze(1)
    return float(noise.psnr(clean, noisy).mean()), float(noise.psnr(clean, output).mean())


ctx = state.require_context()

st.title("Denoise")
st.caption("Corrupt images with noise, then reconstruct them. A model trained on noisy inputs with clean targets "
           "learns to remove the noise; a plain autoencoder tends to reproduce it. PSNR (higher is better) is "
           "measured against the clean image.")

options = state.model_options()
noise_col, model_a_col, model_b_col = st.columns([2, 2, 2])
with noise_col:
    kind = st.radio("Noise", list(KINDS), format_func=KINDS.get, horizontal=True, key="denoise_kind")
    level = st.slider("Level", 0.05, 0.9, 0.3, 0.05, key="denoise_level", help=LEVEL_HELP[kind])
    noise_seed = int(st.number_input("Noise seed", 0, 2**31 - 1, 0, key="denoise_noise_seed"))
with model_a_col:
    picked_a = pick_model("Denoising model", options, default_label(options, "denoising_conv_ae", True),
                          "denoise_model_a")
with model_b_col:
    picked_b = pick_model("Plain model", options, default_label(options, "conv_ae", False), "denoise_model_b")
if picked_a is None or picked_b is None:
    st.stop()
models = [(state.label_for(c.path), c) for c in (picked_a, picked_b)]

source = st.radio("Images", SOURCES, horizontal=True, key="denoise_source")
if source == "Dataset indices":
    try:
        indices = parse_indices(st.text_input("Test image indices", "0, 1, 2, 3", key="denoise_indices"), len(ctx.data))
    except ValueError as err:
        st.error(str(err))
        st.stop()
    clean = ctx.data.images[indices][:, 0].numpy()
    names = [f"test {i}" for i in indices]
elif source == "Random":
    left, right = st.columns(2)
    count = left.slider("How many", 1, MAX_IMAGES, 6, key="denoise_count")
    seed = int(right.number_input("Seed", 0, 2**31 - 1, 0, key="denoise_image_seed"))
    indices = np.sort(np.random.default_rng(seed).choice(len(ctx.data), min(count, len(ctx.data)), replace=False))
    clean = ctx.data.images[indices][:, 0].numpy()
    names = [f"test {i}" for i in indices]
else:
    uploads = st.session_state.get("uploads", {})
    if not uploads:
        st.info("No uploads yet: add images on the Reconstruct or Anomaly page, or pick test images instead.")
        st.stop()
    names = st.multiselect("Uploaded images", list(uploads), default=list(uploads)[:MAX_IMAGES],
                           max_selections=MAX_IMAGES, key="denoise_uploads")
    if not names:
        st.info("Choose at least one uploaded image.")
        st.stop()
    clean = np.stack([uploads[name] for name in names]).astype(np.float32)

x = torch.from_numpy(clean).unsqueeze(1)
noisy = noise.add_noise(x, kind, level, torch.Generator().manual_seed(noise_seed))
outputs = [torch.from_numpy(latent.reconstruct(ckpt.model, noisy)).unsqueeze(1) for _, ckpt in models]
psnr_noisy = noise.psnr(x, noisy).numpy()
psnr_out = [noise.psnr(x, out).numpy() for out in outputs]

st.subheader("Clean, noisy, and each model's output")
for column, title in zip(st.columns(4), ["clean", "noisy", models[0][0], models[1][0]]):
    column.markdown(f"**{title}**")
pictures, captions = [], []
for i, name in enumerate(names):  # short captions: a caption wider than its image stretches the image
    pictures += [clean[i], noisy[i, 0].numpy(), outputs[0][i, 0].numpy(), outputs[1][i, 0].numpy()]
    captions += [name, f"{psnr_noisy[i]:.1f} dB", f"{psnr_out[0][i]:.1f} dB", f"{psnr_out[1][i]:.1f} dB"]
state.show(pictures, captions, scale=SCALE, columns=4)
st.caption("Under each output: its PSNR against the clean image, in dB.")

st.subheader(f"Mean PSNR over {min(PSNR_IMAGES, len(ctx.data))} test images")
rows = []
for label, ckpt in models:
    before, after = mean_psnr(str(ckpt.path), ckpt.digest, ctx.dataset, kind, level, noise_seed)
    rows.append({"": label, "trained": denoising_note(ckpt.meta), "mean PSNR (dB)": round(after, 2),
                 "gain over noisy (dB)": round(after - before, 2)})
rows.insert(0, {"": "noisy input", "trained": "", "mean PSNR (dB)": round(before, 2), "gain over noisy (dB)": 0.0})
st.dataframe(pd.DataFrame(rows), hide_index=True)
st.caption(f"{KINDS[kind]} noise at level {level:g}, seed {noise_seed}; the first {PSNR_IMAGES} test images of "
           f"{state.DATASET_TITLES.get(ctx.dataset, ctx.dataset)}. Cached: changing the shown images does not "
           "recompute it.")
