"""Which anomaly score separates pictures that are not digits from MNIST digits best (issue #26).

Scores every shipped MNIST model's test set and the package's non-digit pictures (aelab.data.nondigits:
letters, shapes, textures) by each candidate score and prints the AUROC of each, overall and per kind, and
where a capital "A" ranks among the test images. The app's verdict uses anomaly.typicality_scores, the last row.

    AELAB_DATA_DIR=/work/shared/datasets python bench/nondigits.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aelab.data.nondigits import KINDS, nondigits  # noqa: E402
from aelab.data.registry import load_dataset  # noqa: E402
from aelab.explore import anomaly, encoding  # noqa: E402
from aelab.explore.likelihood import iwae_nll  # noqa: E402
from aelab.settings import SHIPPED_DIR  # noqa: E402
from aelab.store.checkpoints import load_checkpoint  # noqa: E402

MODELS = ("vae", "conv_vae", "beta_vae", "conv_ae", "denoising_conv_ae")
PIXEL_SCORES = ("mse", "bce", "mse_per_ink")
IWAE_K, IWAE_IMAGES = 64, 2000


def candidates(model, images: torch.Tensor, typicality: anomaly.Typicality) -> dict[str, np.ndarray]:
    """Every candidate score of `images` (higher = less typical); `typicality`: the app's, fitted to the test set."""
    found = {name: anomaly.anomaly_scores(model, images, name) for name in PIXEL_SCORES}
    codes = encoding.encode_all(model, images)
    with_distance = anomaly.typicality_scores(model, images, dataclasses.replace(typicality, ink_line=(0.0, 0.0)))
    found["code: Mahalanobis^2"] = with_distance - found["bce"]  # the shipped models' loss is bce
    if model.is_variational:
        found["code: KL from the prior"] = encoding.kl_per_dim(codes).sum(1)
        found["-ELBO at the mean (bce + KL)"] = found["bce"] + found["code: KL from the prior"]
    found["bce + Mahalanobis^2 / 2 (-log p(x, z))"] = found["bce"] + found["code: Mahalanobis^2"] / 2
    found["bce + Mahalanobis^2"] = with_distance
    found["bce + Mahalanobis^2, less the ink line (the app's)"] = anomaly.typicality_scores(model, images, typicality)
    return found


def main() -> None:
    torch.set_num_threads(1)
    test = load_dataset("mnist", "test", download=False).images
    pictures, kinds = nondigits()
    others = torch.as_tensor(pictures[:, None])
    print(f"{len(test)} MNIST test images; non-digits: " + ", ".join(f"{(kinds == k).sum()} {k}" for k in KINDS))
    print("| model | score | AUROC | " + " | ".join(KINDS) + ' | "A" percentile |')
    print("|---|---|---|" + "---|" * len(KINDS) + "---|")
    for name in MODELS:
        model = load_checkpoint(SHIPPED_DIR / f"{name}.safetensors").model.eval()
        typicality = anomaly.fit_typicality(model, test)
        normal, odd = candidates(model, test, typicality), candidates(model, others, typicality)
        for score in normal:
            per_kind = " | ".join(f"{anomaly.auroc(normal[score], odd[score][kinds == k]):.3f}" for k in KINDS)
            a_rank = float(anomaly.percentile_of(odd[score][0], normal[score]))
            print(f"| {name} | {score} | {anomaly.auroc(normal[score], odd[score]):.3f} | {per_kind} | {a_rank:.1f} |")
        if name == "vae":  # the IWAE bound: -log p(x) itself, at k samples per image, on a subset (it is slow)
            normal_nll = iwae_nll(model, test[:IWAE_IMAGES], k=IWAE_K).values
            odd_nll = iwae_nll(model, others, k=IWAE_K).values
            per_kind = " | ".join(f"{anomaly.auroc(normal_nll, odd_nll[kinds == k]):.3f}" for k in KINDS)
            a_rank = float(anomaly.percentile_of(odd_nll[0], normal_nll))
            print(
                f"| {name} | IWAE k={IWAE_K} ({IWAE_IMAGES} test images) | {anomaly.auroc(normal_nll, odd_nll):.3f} "
                f"| {per_kind} | {a_rank:.1f} |"
            )


if __name__ == "__main__":
    main()
