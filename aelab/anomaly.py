"""Anomaly detection by reconstruction error: what a model reconstructs badly, it has not learnt."""

from __future__ import annotations

import numpy as np
import torch

from aelab.latent import reconstruct
from aelab.models import Autoencoder


def error_maps(model: Autoencoder, images: torch.Tensor) -> np.ndarray:
    """Per-pixel squared error (N, 28, 28) between images and their reconstructions."""
    return (reconstruct(model, images) - images[:, 0].numpy()) ** 2


def reconstruction_errors(model: Autoencoder, images: torch.Tensor, batch_size: int = 2000) -> np.ndarray:
    """Anomaly score per image: mean squared pixel error of the deterministic reconstruction."""
    return np.concatenate([error_maps(model, images[i:i + batch_size]).mean(axis=(1, 2))
                           for i in range(0, len(images), batch_size)])


def percentile_of(score: float | np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Share of reference errors below `score`, in percent: 99 means worse than 99% of the test set."""
    return 100.0 * np.searchsorted(np.sort(reference), score, side="left") / len(reference)


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Area under the ROC curve of the score separating anomalous from normal (0.5 = chance)."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    return float(roc_auc_score(labels, np.r_[normal, anomalous]))


# Percentile thresholds of the verdict: they call 10% and 1% of ordinary test images unusual,
# false-alarm rates at which a flag is still worth a look.
UNUSUAL = 90.0
VERY_UNUSUAL = 99.0


def score_sentence(error: float, reference: np.ndarray, reference_name: str) -> str:
    """The anomaly score as a person reads it: the error, its rank among `reference_name` images, a verdict.

    E.g. "error 0.031 — higher than 97% of MNIST test images: unusual for this model". The
    percentage is rounded down, so it says "every" (never "100%") only when that is true.
    """
    percentile = float(percentile_of(error, reference))
    if percentile >= 100.0:
        rank = f"higher than every {reference_name} image"
    elif percentile <= 0.0:
        rank = f"no higher than any {reference_name} image"
    elif percentile < 1.0:
        rank = f"higher than under 1% of {reference_name} images"
    else:
        rank = f"higher than {int(percentile)}% of {reference_name} images"
    verdict = "very unusual" if percentile >= VERY_UNUSUAL else "unusual" if percentile >= UNUSUAL else "typical"
    return f"error {error:.3g} — {rank}: {verdict} for this model"
