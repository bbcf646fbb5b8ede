"""What the pages say and what they parse, free of Streamlit so that unit tests cover every rule."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from aelab.data.folders import COLOUR, DIGITS, GRAY, INDEXING
from aelab.data.registry import FALLBACK_DATASET, dataset_title
from aelab.models.config import DIGIT_SHAPE, shape_text

_MARKDOWN = re.compile(r"([\\`*_\[\]<>~$|#])")
MAX_INDICES = 12  # images one typed list may name
OFFLINE_NOTE = (
    "MNIST is not on disk (set AELAB_DATA_DIR, or run `python -m aelab data mnist` online to download it): "
    f"showing {dataset_title(FALLBACK_DATASET)} instead."
)


# What the latent map can be coloured by: a class, or a number per test image on a continuous scale.
LABEL, TRUST = "label", "trust"
COLOUR_BY = {LABEL: "label", "recon": "recon. error", "anomaly": "anomaly score", "kl": "KL (nats)", TRUST: "trust"}
COLOUR_HELP = (
    "recon. error: mean squared error per pixel. anomaly score: squared error per unit of ink (the "
    "Anomaly page's one-class score). KL: of q(z|x) from the prior, summed over dimensions. trust: the "
    "share of a point's 10 nearest codes that are also among its 10 nearest points on this map."
)


FACTOR = "factor: "  # colour by a known generating factor: FACTOR + its name


SCORED = ("recon", "anomaly")  # colourings that run the model on every image: not offered for a whole stream
UNSCORED = (
    " A streamed split's map is not coloured by recon. error or anomaly score, which would run the model on every "
    "file: the Reconstruct and Anomaly pages score the part held."
)


def colour_options(variational: bool, factors: Sequence[str] = (), scored: bool = True) -> list[str]:
    """The latent map's colourings for a model and dataset: KL only where there is a posterior, each known
    generating factor where the data has them, scores of every image only where they are held (`scored`)."""
    keys = [key for key in COLOUR_BY if (variational or key != "kl") and (scored or key not in SCORED)]
    return keys + [FACTOR + name for name in factors]


def colour_title(key: str) -> str:
    return COLOUR_BY.get(key, key)


def follows(top: Sequence[tuple[str, float]]) -> str:
    """A Traverse slider's note on the two generating factors its dimension carries most of (shares of each
    factor's entropy, most first): 'follows x (80%), then y (5%)' when one stands out ('partly follows' under
    FOLLOWS_WELL), 'mixes x (35%) and colour (20%)' when the second is close behind, 'follows no factor well'
    when even the first is faint."""
    (first, share), (second, other) = top[0], top[1] if len(top) > 1 else ("", 0.0)
    if share < FOLLOWS_AT_LEAST:
        return "follows no factor well"
    if other >= share / STANDS_OUT:
        return f"mixes {first} ({share:.0%}) and {second} ({other:.0%})"
    how = "follows" if share >= FOLLOWS_WELL else "partly follows"
    return f"{how} {first} ({share:.0%}), then {second} ({other:.0%})"


FOLLOWS_AT_LEAST = 0.1  # of a factor's entropy: below this a dimension is said to follow none
FOLLOWS_WELL = 0.5  # of a factor's entropy: from this share a dimension is said to follow it, below it partly
STANDS_OUT = 2  # a dimension follows one factor when it carries at least this many times the second's share


def markdown_safe(text: str) -> str:
    """A file name shown as typed: `*`, `_` and friends in it must not turn into formatting."""
    return _MARKDOWN.sub(r"\\\1", text)


def duration(seconds: float) -> str:
    """E.g. '42 s', '3 min 05 s'."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def epochs_text(epochs: float) -> str:
    """How much a run trained, in the one wording the model card and the Train page share:
    '12 epochs', or '11.34 epochs (stopped in epoch 12)' for a run that ended inside an epoch."""
    if float(epochs).is_integer():
        return f"{int(epochs)} epoch{'' if epochs == 1 else 's'}"
    return f"{epochs:.2f} epochs (stopped in epoch {math.floor(epochs) + 1})"


def load_progress(phase: str, done: int, total: int) -> tuple[float, str]:
    """A folder or zip load's progress bar: its fraction and words, from data.Progress's report."""
    if phase == INDEXING:
        return 0.0, f"Looking for images: {done:,} files seen, {total:,} found"
    return (done / total if total else 1.0), f"Reading images: {done:,} of {total:,}"


def dropped_uploads(names: Sequence[str], most: int, megabytes: float) -> str:
    """The toast when a session's oldest uploads make room for new ones."""
    shown = ", ".join(markdown_safe(n) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"Dropped the oldest upload{'s' if len(names) > 1 else ''} ({shown}): a session keeps at most {most} "
        f"images, {megabytes:g} MB."
    )


def unread_uploads(unread: int, most: int) -> str:
    """Files an uploader holds beyond the newest it reads."""
    return f"Only the newest {most} files here are read: {unread:,} older one{'s were' if unread > 1 else ' was'} not."


PICTURE_MODES = {DIGITS: "Digits (MNIST's recipe, 28 px)", GRAY: "Gray", COLOUR: "Colour (RGB)"}
PICTURE_HELP = (
    "Digits: each image is made an MNIST-style digit (the ink found, centred in 20x20, on 28x28), as uploads "
    "to a digit model are. Gray or colour: each image is centre-cropped to a square and resized to the "
    "side below; the model is built for that shape."
)


def dataset_option(name: str) -> str:
    """The sidebar's label for a dataset: the offline fallback says that it is one."""
    return dataset_title(name) + (" (offline)" if name == FALLBACK_DATASET else "")


def parse_indices(text: str, n: int, most: int = MAX_INDICES) -> list[int]:
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
    if len(indices) > most:
        raise ValueError(f"At most {most} images at once.")
    return indices


def upload_recipe(model_shape: tuple[int, int, int]) -> str:
    """How the Reconstruct page prepares an upload for this model (images.prepare_for's rule, in words)."""
    if tuple(model_shape) == DIGIT_SHAPE:
        return (
            "Upload photos or scans of digits: each is prepared the way MNIST was made (upright, grayscale, "
            "white ink on black, cropped, fitted into a 20x20 box and centred by mass in 28x28), then "
            "reconstructed. Its anomaly score, ranked among the test set's, says how familiar the picture is "
            "to the model."
        )
    return (
        f"Upload pictures: each is made the model's {shape_text(model_shape)} (centre-cropped to a square, "
        "resized; a grayscale picture copied into three channels for a colour model, a colour one made gray "
        "for a gray model), then reconstructed. Its anomaly score, ranked among the test set's, says how "
        "familiar the picture is to the model."
    )


# Where the Directions page's directions come from (#15).
PCA, SEFA, ATTRIBUTE, SELECTIONS = "pca", "sefa", "attribute", "selections"
DIRECTION_KINDS = {
    PCA: "Principal components of the codes (GANSpace)",
    SEFA: "The decoder's first layer (SeFa)",
    ATTRIBUTE: "Attribute vector: class A → class B",
    SELECTIONS: "Attribute vector: map selection A → B",
}


def direction_label(name: str, weight: float, measure: str) -> str:
    """A direction's slider label, saying how strong it is: 'PC 1 · 23.4% of variance', '1 → 7 · distance 3.21'."""
    if measure.startswith("share of "):
        return f"{name} · {100 * weight:.1f}% of {measure.removeprefix('share of ')}"
    return f"{name} · {measure} {weight:.2f}"


OFF_DATA = (
    "Distance from the data: the pixel distance (Euclidean, pixel values 0 to 1) from a frame to the nearest of "
    "this model's own reconstructions of the test images. The ends are reconstructions, near 0; a frame that "
    "looks like no digit the model draws scores high, a path through real-looking pictures stays low. Each "
    "model is measured against its own reconstructions, so a blurry model is not marked down for blur."
)


ANOMALY_NOTE = (
    "The score adds the reconstruction's loss to how far the picture's code lies from the test images' "
    "codes, less what test images with as much ink score; typical below the 95th percentile of the test "
    "images' scores, flagged above the threshold, unusual between. A score can miss: a picture the model "
    "redraws well from a code among the digits' (a plain O reads as a 0) looks typical to it, whatever it is."
)
UNITS = (
    "Units: how well a model explains an image (reconstruction loss, KL, −ELBO) is in nats per image, "
    "summed over its pixels, as on the model card; differences between pictures (error maps, reconstruction "
    "error, distances) are in pixel values from 0 to 1."
)


WHY_VAES = (
    "At temperature 1 (whatever the slider above says) and the seed above. An autoencoder was never told "
    "where its codes should lie, so codes drawn from N(0, I) decode to smudges; "
    "a Gaussian fitted to its codes lands near them and decodes digit-like shapes with blends between; the "
    "VAE was trained so that its prior N(0, I) decodes to digits. Under each grid, the coverage of 1,000 "
    "samples: the share of test images with a sample close by (explained above; near 0.97 for samples like "
    "the data). The nearest-image distance would rank the faint smudges best: little ink lies near a thin 1."
)


POSTERIOR = (
    "A VAE encodes an image to a distribution, not a point: a mean mu and a spread sigma per dimension (the "
    "bars and their error bars). Training draws z = mu + sigma * eps with eps from N(0, 1), the "
    "reparameterisation trick, and decodes it: the pictures are such draws, beside the decode of mu itself. "
    "The KL (lower bars, nats) is what each dimension costs: how far its N(mu, sigma^2) is from the prior "
    "N(0, 1). A dimension with sigma near 1, mu near 0 and KL near 0 carries nothing about this image."
)


# Where the Sample page's codes come from.
PRIOR, MIXTURE = "prior", "mixture"
SAMPLE_SOURCES = {
    PRIOR: "The prior (an autoencoder's: one Gaussian fitted to its codes)",
    MIXTURE: "A Gaussian mixture fitted to the codes",
}


def quality_text(density: float, coverage: float, samples: int) -> str:
    """The Sample page's line under a grid: Naeem et al.'s two figures, bold as the page's other figures."""
    return f"Density **{density:.2f}**, coverage **{coverage:.2f}** ({samples:,} samples)."
