"""The one-class experiment: train a model on every class but one (or on one alone) and measure how well
reconstruction error flags the classes it never saw, the honest test of an autoencoder as an anomaly detector."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aelab.data.dataset import ImageData
from aelab.explore.anomaly import SCORES, TYPICALITY_SCORE, anomaly_scores, auroc, fit_typicality, typicality_scores
from aelab.models.config import ModelConfig
from aelab.store.checkpoints import load_checkpoint
from aelab.training.config import TrainConfig
from aelab.training.trainer import train

MODE_TITLES = {"all_but_one": "Train on every class but one", "one_only": "Train on one class only"}
MODES = tuple(MODE_TITLES)
# The score that separated best in each mode in bench/one_class.py (figures in docs/benchmarks.md).
BEST_SCORE = {"all_but_one": "mse_per_ink", "one_only": "ink_corrected"}


@dataclass
class OneClassResult:
    """ROC of the score separating test images of unseen classes (positive) from seen ones."""

    held_out: int  # the class left out of training (all_but_one) or the only one trained on (one_only)
    mode: str
    score: str
    fpr: np.ndarray
    tpr: np.ndarray
    auroc: float
    aurocs: dict[str, float]  # the same model's AUROC under every score in SCORES and the app's TYPICALITY_SCORE
    normal_scores: np.ndarray  # test images of the classes the model was trained on
    anomalous_scores: np.ndarray
    train_images: int
    epochs: int  # epochs actually trained
    seconds: float  # training and scoring


def one_class_experiment(
    model_name: str,
    train_data: ImageData,
    test_data: ImageData,
    held_out: int,
    mode: str = "all_but_one",
    epochs: int = 20,
    score: str | None = None,
    latent_dim: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> OneClassResult:
    """Train `model_name` on every class but `held_out` (or on it alone) and score the test set.

    How well reconstruction error flags a class the model never saw is the honest measure
    of an autoencoder as an anomaly detector. The model lives in a temporary file only;
    `progress(fraction)` follows training. The ROC is of `score` (None: the measured
    `BEST_SCORE`); `aurocs` has every score's AUROC, which is how the best was chosen.
    """
    from sklearn.metrics import roc_curve  # a slow import, which only this experiment needs

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    score = BEST_SCORE[mode] if score is None else score
    if score not in SCORES:
        raise ValueError(f"Unknown score {score!r}; known: {', '.join(SCORES)}")
    seen = (train_data.labels != held_out) if mode == "all_but_one" else (train_data.labels == held_out)
    normal_train = train_data.subset(seen.nonzero().squeeze(1))
    if len(normal_train) < 10 or len(normal_train) == len(train_data):
        raise ValueError(
            f"Class {held_out} cannot be held out: {len(normal_train)} of {len(train_data)} "
            "training images would be used (the data needs labels and that class)."
        )
    normal_images, test_images = normal_train.images, test_data.images
    if not isinstance(normal_images, torch.Tensor) or not isinstance(test_images, torch.Tensor):
        raise ValueError("The one-class experiment needs its images in memory, not streamed from files.")
    test_unseen = (test_data.labels == held_out) if mode == "all_but_one" else (test_data.labels != held_out)
    if test_unseen.all() or not test_unseen.any():
        raise ValueError(f"The test set needs images both of class {held_out} and of other classes.")
    channels, side, _ = train_data.shape
    cfg = TrainConfig(
        model=ModelConfig.for_model(model_name, latent_dim=latent_dim, channels=channels, side=side),
        dataset=train_data.name,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        patience=0,
    )
    started = time.perf_counter()

    def on_batch(epoch: int, batch: int, n_batches: int, loss: float) -> None:
        if progress:
            progress(((epoch - 1) + batch / n_batches) / epochs)

    with tempfile.TemporaryDirectory(prefix="aelab-one-class-") as folder:
        result = train(cfg, normal_train, Path(folder) / "model.safetensors", on_batch=on_batch)
        if result.path is None:
            raise RuntimeError(result.message)
        model = load_checkpoint(result.path).model
    unseen = test_unseen.numpy()
    every = {name: anomaly_scores(model, test_images, name, reference=normal_images) for name in SCORES}
    # The app's verdict score, with the normal training images as its reference (the app's: the test split).
    every[TYPICALITY_SCORE] = typicality_scores(model, test_images, fit_typicality(model, normal_images))
    aurocs = {name: auroc(values[~unseen], values[unseen]) for name, values in every.items()}
    scores = every[score]
    fpr, tpr, _ = roc_curve(unseen.astype(int), scores)
    return OneClassResult(
        held_out,
        mode,
        score,
        fpr,
        tpr,
        aurocs[score],
        aurocs,
        scores[~unseen],
        scores[unseen],
        len(normal_train),
        len(result.history),
        time.perf_counter() - started,
    )
