"""Test-set evaluation: reconstruction loss, negative ELBO, KL per dimension, active units, and MIG where
the data's generating factors are known."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from aelab.data.dataset import ImageData
from aelab.data.registry import load_dataset
from aelab.data.streaming import Images, batches, in_order
from aelab.explore.disentangle import dimension_factors, mig
from aelab.models.autoencoders import LatentModel, kl_per_dim, reconstruction_loss, reparameterise
from aelab.models.noise import add_noise
from aelab.store.checkpoints import IWAE, load_checkpoint, update_metadata

SLOW_METRICS = (IWAE,)  # figures that take minutes: a new evaluation of the same weights keeps them
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al.: Var_x[E_q(z|x) z_d] above this counts as active


def active_units(mu: np.ndarray) -> np.ndarray:
    """Which latent dimensions are active: the (unbiased) variance across the data of the codes, posterior
    means for a VAE, above ACTIVE_UNIT_THRESHOLD. The one rule behind `evaluate` and the Traverse page."""
    return np.asarray(mu, dtype=np.float64).var(0, ddof=1) > ACTIVE_UNIT_THRESHOLD


def noise_generator(model: LatentModel, seed: int) -> torch.Generator:
    """The reparameterisation noise's own seeded generator on the model's device: the figures
    neither depend on torch's global generator nor move it."""
    return torch.Generator(next(model.parameters()).device).manual_seed(seed)


@torch.no_grad()
def evaluate(
    model: LatentModel,
    images: Images,
    batch_size: int = 1000,
    seed: int = 0,
    noise: str | None = None,
    noise_level: float = 0.0,
    factors: np.ndarray | None = None,
    factor_names: Sequence[str] = (),
) -> dict:
    """Metrics per image, averaged over `images`; the ELBO uses one seeded posterior sample.

    With `noise`, also `denoise_recon`: the loss of reconstructing clean images from noisy ones.
    `images` may be a stream (its unreadable files are not counted).
    """
    model.eval()
    eps = noise_generator(model, seed)
    kind = model.config.recon
    recon_sum, nelbo_sum, denoise_sum, kl_sum = 0.0, 0.0, 0.0, torch.zeros(model.latent_dim)
    codes = []
    gen = torch.Generator().manual_seed(seed)
    n = 0
    for x in batches(images, in_order(len(images), batch_size)):
        if not len(x):  # a stream's batch of unreadable files
            continue
        n += len(x)
        if model.is_variational:
            mu, logvar = model.posterior(x)
            z = reparameterise(mu, logvar, eps)
            kl = kl_per_dim(mu, logvar)
            nelbo_sum += float((reconstruction_loss(model.decode(z), x, kind) + kl.sum(1)).sum())
            kl_sum += kl.sum(0)
        else:
            mu = model.encode(x)
        recon_sum += float(reconstruction_loss(model.decode(mu), x, kind).sum())
        if noise:
            noisy = add_noise(x, noise, noise_level, gen)
            denoise_sum += float(reconstruction_loss(model.reconstruct(noisy), x, kind).sum())
        codes.append(mu)
    all_codes = torch.cat(codes).cpu().numpy()
    metrics = {
        "images": n,
        "recon": recon_sum / n,
        "recon_kind": kind,
        "latent_variance": [round(float(v), 5) for v in all_codes.astype(np.float64).var(0, ddof=1)],
        "active_units": int(active_units(all_codes).sum()),
    }
    if noise:
        metrics |= {"denoise_recon": denoise_sum / n, "noise": f"{noise} {noise_level:g}"}
    if model.is_variational:
        metrics |= {
            "nelbo": nelbo_sum / n,
            "kl": float(kl_sum.sum()) / n,
            "kl_per_dim": [round(float(v) / n, 5) for v in kl_sum],
        }
    if factors is not None and len(all_codes) == len(factors):  # a stream's unreadable files leave no factors to pair
        metrics |= disentanglement(all_codes, factors, factor_names)
    return metrics


def disentanglement(mu: np.ndarray, factors: np.ndarray, names: Sequence[str]) -> dict:
    """MIG (Chen et al. 2018) of the codes against known generating factors, per factor, and the factor each
    code dimension follows (with the share of that factor's entropy it carries)."""

    result = mig(mu, np.asarray(factors))
    return {
        "mig": round(result.score, 4),
        "mig_per_factor": dict(zip(names, (round(float(g), 4) for g in result.gaps))),
        "dimension_factors": [[names[k], round(share, 4)] for k, share in dimension_factors(result.normalised)],
    }


def fitted_posterior_nelbo(
    model: LatentModel, images: torch.Tensor, steps: int = 300, lr: float = 1e-2, seed: int = 0
) -> float:
    """Negative ELBO per image with q(z|x) fitted to each image by gradient descent, the decoder fixed.

    The encoder's amortised posteriors are the starting point; what is left after fitting
    approximates the best any Gaussian posterior does with this decoder, so the difference to
    `evaluate`'s -ELBO is the encoder's share of the loss, the amortisation gap (Cremer et al.,
    2018, "Inference suboptimality in variational autoencoders").
    """
    model.eval()
    eps = noise_generator(model, seed)
    with torch.no_grad():
        mu, logvar = model.posterior(images)
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)

    def nelbo() -> torch.Tensor:
        z = reparameterise(mu, logvar, eps)
        return (reconstruction_loss(model.decode(z), images, model.config.recon) + kl_per_dim(mu, logvar).sum(1)).mean()

    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        nelbo().backward()  # gradients reach the decoder's weights too, but only mu and logvar step
        optimizer.step()
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        return float(nelbo())


def record_test_metrics(path: str | Path, dataset: str | ImageData, root: str | Path | None = None) -> dict:
    """Evaluate the checkpoint at `path` on a test split and store the metrics in its metadata.

    The CLI and the app both call this, so every trained model's card reads the same numbers.
    `dataset` is a dataset name or folder (its test split is loaded from `root`, downloaded if
    need be) or the test split itself (an uploaded zip's). Raises DatasetUnavailable when the
    test split cannot be had; the checkpoint is then left as it was.
    """
    test = dataset if isinstance(dataset, ImageData) else load_dataset(dataset, "test", root)
    ckpt = load_checkpoint(path)
    metrics = test_metrics(ckpt.model, test, ckpt.meta.get("train") or {})
    kept = {key: value for key, value in (ckpt.meta.get("metrics") or {}).items() if key in SLOW_METRICS}
    update_metadata(path, {"metrics": kept | metrics})
    return metrics


def test_metrics(model: LatentModel, test: ImageData, train: dict | None = None) -> dict:
    """What a checkpoint records of `model` on a test split; `train`, its training config, says the noise it removes."""
    train = train or {}
    return evaluate(
        model,
        test.images,
        noise=train.get("noise"),
        noise_level=train.get("noise_level", 0.0),
        factors=test.factors,
        factor_names=test.factor_names,
    ) | {"dataset": f"{test.name} test"}
