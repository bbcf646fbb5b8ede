"""Anomaly detection: what a model reconstructs badly, or encodes far from the data, it has not learnt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from aelab.explore.encoding import encode_all, reconstruct
from aelab.explore.priors import Prior, fitted_gaussian
from aelab.images.render import to_pictures
from aelab.models.autoencoders import LatentModel, reconstruction_loss


def error_maps(model: LatentModel, images: torch.Tensor) -> np.ndarray:
    """Per-pixel squared error (N, H, W) between images (N, C, H, W) and their reconstructions, averaged over
    the channels: one map per image, whatever its colour, for `heatmap`."""
    squared = (reconstruct(model, images) - to_pictures(images)) ** 2
    return squared if squared.ndim == 3 else squared.mean(axis=3)


def reconstruction_errors(model: LatentModel, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Anomaly score per image: mean squared pixel error of the deterministic reconstruction."""
    return anomaly_scores(model, images, "mse", batch_size=batch_size)


def percentile_of(score: float | np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Share of reference errors below `score`, in percent: 99 means worse than 99% of the test set."""
    return 100.0 * np.searchsorted(np.sort(reference), score, side="left") / len(reference)


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Area under the ROC curve of the score separating anomalous from normal (0.5 = chance)."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    return float(roc_auc_score(labels, np.r_[normal, anomalous]))


# The anomaly threshold, as a percentile of the reference errors: the Anomaly page suggests it
# and the verdict beside every score uses it, so both call the same images unusual. At 99, one
# ordinary test image in a hundred is flagged: a false-alarm rate at which a flag is worth a look.
DEFAULT_PERCENTILE = 99.0


def threshold_at(reference: np.ndarray, percentile: float = DEFAULT_PERCENTILE) -> float:
    """The reconstruction error above which an image is flagged: a percentile of the reference errors."""
    return float(np.percentile(reference, percentile))


# Below this percentile of the reference scores an image is typical; from it up to the threshold, unusual.
UNUSUAL_PERCENTILE = 95.0
TYPICAL, UNUSUAL, FLAGGED = "typical", "unusual", "flagged"


def verdict(score: float, reference: np.ndarray, threshold: float | None = None) -> str:
    """TYPICAL, UNUSUAL or FLAGGED: flagged exactly above `threshold` (default `threshold_at(reference)`, the
    Anomaly page's), unusual from the UNUSUAL_PERCENTILE-th percentile of `reference` up to it."""
    threshold = threshold_at(reference) if threshold is None else float(threshold)
    if score > threshold:
        return FLAGGED
    return UNUSUAL if float(percentile_of(score, reference)) >= UNUSUAL_PERCENTILE else TYPICAL


def score_sentence(score: float, reference: np.ndarray, reference_name: str, threshold: float | None = None) -> str:
    """The anomaly score as a person reads it: the score, its rank among `reference_name` images, a graded verdict.

    E.g. "score 131 — higher than 97% of MNIST test images: unusual (flagged above 152)". The verdict is
    `verdict`'s, with the Anomaly page's threshold, so a picture is never called typical beside a page that
    flags it. The percentage is rounded down, so it says "every" (never "100%") only when that is true.
    """
    threshold = threshold_at(reference) if threshold is None else float(threshold)
    percentile = float(percentile_of(score, reference))
    if percentile >= 100.0:
        rank = f"higher than every {reference_name} image"
    elif percentile <= 0.0:
        rank = f"no higher than any {reference_name} image"
    elif percentile < 1.0:
        rank = f"higher than under 1% of {reference_name} images"
    else:
        rank = f"higher than {int(percentile)}% of {reference_name} images"
    return f"score {score:.3g} — {rank}: **{verdict(score, reference, threshold)}** (flagged above {threshold:.3g})"


# --- error heatmaps ----------------------------------------------------------------------

_INFERNO = (
    "#000004",
    "#1b0c41",
    "#4a0c6b",
    "#781c6d",
    "#a52c60",
    "#cf4446",
    "#ed6925",
    "#fb9b06",
    "#f7d13d",
    "#fcffa4",
)  # matplotlib's inferno at ten even steps: dark = no error, light = large error


def heatmap(error_map: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Colour-map a 2-D error map to an (H, W, 3) float32 RGB image in [0, 1].

    Errors are scaled by `vmax` (default: the map's own maximum); pass one shared `vmax` so
    several maps can be compared by colour. A perceptually uniform map, because a gray
    error map next to a gray digit is hard to read.
    """
    errors = np.nan_to_num(np.asarray(error_map, dtype=np.float64))
    if errors.ndim != 2:
        raise ValueError(f"expected a 2-D error map, got shape {errors.shape}")
    top = float(errors.max()) if vmax is None else float(vmax)
    t = np.clip(errors / top, 0.0, 1.0) if top > 0 else np.zeros_like(errors)
    anchors = np.array([[int(h[i : i + 2], 16) / 255.0 for i in (1, 3, 5)] for h in _INFERNO])
    steps = np.linspace(0.0, 1.0, len(anchors))
    rgb = np.stack([np.interp(t, steps, anchors[:, c]) for c in range(3)], axis=-1)
    return rgb.astype(np.float32)


# --- scores ------------------------------------------------------------------------------

SCORES = {
    "mse": "mean squared pixel error",
    "bce": "binary cross-entropy (nats per image)",
    "mse_per_ink": "squared error per unit of ink",
    "ink_corrected": "log squared error above what normal images with as much ink have",
}


@torch.no_grad()
def anomaly_scores(
    model: LatentModel,
    images: torch.Tensor,
    score: str = "mse",
    reference: torch.Tensor | None = None,
    batch_size: int = 500,
) -> np.ndarray:
    """Per-image reconstruction-error score (higher = more anomalous) by one of `SCORES`.

    Plain error favours simple images: a thin '1' has little ink to get wrong, so it looks
    normal to any model. 'mse_per_ink' divides by the ink; 'ink_corrected' instead fits, on
    `reference` (normal images, e.g. the training set), how log error grows with log ink and
    scores what is left over.
    """
    if score not in SCORES:
        raise ValueError(f"Unknown score {score!r}; known: {', '.join(SCORES)}")
    if score == "ink_corrected":
        if reference is None:
            raise ValueError("The 'ink_corrected' score needs reference images of the normal class")
        slope, intercept = np.polyfit(_log_ink(reference), _log_mse(model, reference), 1)
        return _log_mse(model, images) - (intercept + slope * _log_ink(images))
    model.eval()
    parts = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        logits = model.reconstruct(x)
        if score == "bce":
            parts.append(F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1))
            continue
        squared = (torch.sigmoid(logits) - x).pow(2).flatten(1)
        if score == "mse":
            parts.append(squared.mean(1))
        else:
            parts.append(squared.sum(1) / (x.flatten(1).sum(1) + 1.0))
    return torch.cat(parts).numpy().astype(np.float64)


TYPICALITY_SCORE = "typicality"  # its name beside SCORES where scores are compared (the one-class experiment)
TYPICALITY = (
    "anomaly score: reconstruction loss plus code distance, beyond images with as much ink (lower is more typical)"
)
TYPICALITY_HELP = (
    "The loss is in nats per image, as on the model card; the code distance is the squared Mahalanobis distance "
    "under a Gaussian fitted to the test images' codes; the ink line is taken off because simple pictures, like a "
    "thin 1, score low whatever they are. Chosen by measuring on letters, shapes and textures against MNIST "
    "digits and on digits a model never saw (bench/nondigits.py, bench/one_class.py, docs/benchmarks.md)."
)


@dataclass(frozen=True)
class Typicality:
    """What TYPICALITY measures an image against: a Gaussian fitted to the reference images' codes, and the line of
    their raw score against log ink, which is taken off (input complexity biases likelihoods: Serrà et al. 2020)."""

    fitted: Prior
    ink_line: tuple[float, float]  # slope and intercept of the raw score against log(ink + 1) over the reference
    reference_scores: np.ndarray  # the reference images' own scores, which a score is ranked among


def fit_typicality(model: LatentModel, reference: torch.Tensor) -> Typicality:
    """TYPICALITY's reference: `reference` (normal images, e.g. a test split) encoded, scored and fitted."""
    fitted = fitted_gaussian(encode_all(model, reference))
    raw, ink = _raw_typicality(model, reference, fitted), _log_ink(reference)
    slope, intercept = np.polyfit(ink, raw, 1)
    return Typicality(fitted, (float(slope), float(intercept)), raw - (intercept + slope * ink))


def typicality_scores(model: LatentModel, images: torch.Tensor, typicality: Typicality) -> np.ndarray:
    """Per image, TYPICALITY: −log p(x|z) of the deterministic reconstruction plus the code's squared
    Mahalanobis distance under the fitted Gaussian, less the reference's line at the image's ink.

    The reconstruction alone misses pictures a model redraws well from codes it never uses for data (a
    letter can reconstruct as well as a thin 1); the code's distance catches those, the reconstruction
    catches a picture encoded near the data but redrawn badly, and the ink line stops simple pictures
    (a digit the model never saw, drawn thin) passing for typical.
    """
    slope, intercept = typicality.ink_line
    return _raw_typicality(model, images, typicality.fitted) - (intercept + slope * _log_ink(images))


@torch.no_grad()
def _raw_typicality(model: LatentModel, images: torch.Tensor, fitted: Prior, batch_size: int = 500) -> np.ndarray:
    from scipy.linalg import solve_triangular  # here: the app's first page imports this module, not scipy

    model.eval()
    parts = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        mu = model.encode(x)
        distance = (solve_triangular(fitted.chol, (mu.numpy() - fitted.mean).T, lower=True) ** 2).sum(0)
        loss = reconstruction_loss(model.decode(mu), x, model.config.recon).numpy()
        parts.append(loss.astype(np.float64) + distance)
    return np.concatenate(parts)


def _log_mse(model: LatentModel, images: torch.Tensor) -> np.ndarray:
    return np.log(np.maximum(anomaly_scores(model, images, "mse"), 1e-12))


def _log_ink(images: torch.Tensor) -> np.ndarray:
    return np.log(images.flatten(1).sum(1).numpy().astype(np.float64) + 1.0)


# --- one-class experiment ----------------------------------------------------------------
