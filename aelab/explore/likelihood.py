"""The log-likelihood of a VAE by importance sampling: the IWAE bound (Burda et al. 2016).

    log p(x) >= log (1/k) sum_j p(x|z_j) p(z_j) / q(z_j|x),  z_j ~ q(z|x)

With k = 1 this is the ELBO (in expectation); it tightens towards log p(x) as k grows, so with k = 5,000
it is the field's usual stand-in for the likelihood and, unlike the ELBO, comparable across models whose
posteriors fit differently well. Nats per image, as `metrics.evaluate`'s -ELBO: the decoder's
reconstruction loss (`models.reconstruction_loss`) is its -log p(x|z). For "bce" that is the Bernoulli
likelihood; for "mse" it is the squared error read as a Gaussian's negative log-likelihood without its
constant, so, as that model's -ELBO, its figure compares with other "mse" models only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aelab.data.dataset import ImageData, sample_indices
from aelab.data.registry import load_dataset
from aelab.data.streaming import Images, batches, in_order
from aelab.explore.metrics import noise_generator
from aelab.models.autoencoders import LatentModel, reconstruction_loss
from aelab.store.checkpoints import IWAE, load_checkpoint, read_metadata, update_metadata

DEFAULT_K = 5000  # importance samples per image for the report (Burda et al. use 5,000)
DEFAULT_IMAGES = 1000  # test images the report's figure is taken over (a seeded random subset)
DECODES_PER_CHUNK = 4096  # decodes held at once: a conv decoder's activations for these stay small


class LikelihoodStopped(RuntimeError):
    """Stopped before the first image's estimate was done: there is no figure to give."""


@dataclass(frozen=True)
class LogLikelihood:
    """-log p(x) per image by the IWAE bound with k samples (an upper bound on the true -log p(x)), its mean in
    nats and the standard error of that mean over the images. `stopped`: cut short, over fewer images than asked."""

    values: np.ndarray  # (images,) -log p(x) of each image done, in nats
    k: int
    stopped: bool

    @property
    def nll(self) -> float:
        return float(self.values.mean())

    @property
    def stderr(self) -> float:
        return float(self.values.std(ddof=1) / math.sqrt(len(self.values))) if len(self.values) > 1 else math.nan

    def to_metrics(self) -> dict:
        """The figures a checkpoint's metadata keeps under metrics["iwae"]."""
        return {"nll": round(self.nll, 4), "stderr": round(self.stderr, 4), "k": self.k, "images": len(self.values)}


def check_estimable(model: LatentModel, k: int) -> None:
    """ValueError unless `model` is a VAE and k a number of samples: said before any long work starts."""
    if not model.is_variational:
        raise ValueError(
            f"{type(model).__name__} is not variational: with no posterior q(z|x) there is nothing to "
            "importance-sample, so it has no likelihood bound"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1 importance sample, not {k}")


@torch.no_grad()
def _batch_nll(
    model: LatentModel, x: torch.Tensor, k: int, generator: torch.Generator, step: Callable[[int], bool]
) -> torch.Tensor | None:
    """-IWAE of each image of `x` (B,), its k samples drawn in chunks; None when `step(decodes)` says stop."""
    mu, logvar = model.posterior(x)
    std, chunk = torch.exp(0.5 * logvar), max(1, DECODES_PER_CHUNK // len(x))
    total = torch.full((len(x),), -math.inf, device=x.device)
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * std
        target = x.expand(n, *x.shape).reshape(n * len(x), *x.shape[1:])
        log_px_z = -reconstruction_loss(model.decode(z.flatten(0, 1)), target, model.config.recon).view(n, len(x))
        # log p(z) - log q(z|x) for Gaussians: the 2*pi terms cancel; (z - mu) / sigma is eps itself.
        log_pz_qz = 0.5 * (eps.pow(2) - z.pow(2) + logvar).sum(2)
        total = torch.logaddexp(total, torch.logsumexp(log_px_z + log_pz_qz, 0))
        if step(n * len(x)):
            return None
    return math.log(k) - total


def iwae_nll(
    model: LatentModel,
    images: Images,
    k: int = DEFAULT_K,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LogLikelihood:
    """-log p(x) of each image by the IWAE bound with k posterior samples, on the model's device.

    Samples are drawn in chunks of DECODES_PER_CHUNK decodes, from the model's own seeded generator (the
    same seed gives the same figure). `progress(done, total)` counts decodes; `should_stop()` is asked after
    each chunk, and a stop keeps the images finished so far (`stopped` True). Raises ValueError for an
    autoencoder and LikelihoodStopped when stopped before the first image is done.
    """
    check_estimable(model, k)
    if not len(images):
        raise ValueError("no images to estimate the likelihood of")
    model.eval()
    device = next(model.parameters()).device
    generator = noise_generator(model, seed)
    per_batch = max(1, DECODES_PER_CHUNK // k)
    total, done = len(images) * k, 0
    values: list[np.ndarray] = []

    def step(decodes: int) -> bool:
        nonlocal done
        done += decodes
        if progress:
            progress(done, total)
        return bool(should_stop and should_stop())

    for x in batches(images, in_order(len(images), per_batch)):
        if not len(x):  # a stream's batch of unreadable files
            continue
        nll = _batch_nll(model, x.to(device), k, generator, step)
        if nll is None:
            if not values:
                raise LikelihoodStopped("Stopped before the first image's likelihood was estimated")
            return LogLikelihood(np.concatenate(values), k, stopped=True)
        values.append(nll.double().cpu().numpy())
    return LogLikelihood(np.concatenate(values), k, stopped=False)


def record_log_likelihood(
    path: str | Path,
    dataset: str | ImageData,
    k: int = DEFAULT_K,
    n_images: int = DEFAULT_IMAGES,
    root: str | Path | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LogLikelihood:
    """Estimate the checkpoint's -log p(x) on a seeded random `n_images` of a test split and, when not
    stopped, keep it in its metadata under metrics["iwae"] (with the dataset), beside the -ELBO it bounds.

    `dataset` is a name or folder (its test split loaded from `root`) or the test split itself, as for
    `metrics.record_test_metrics`.
    """
    if n_images < 1:
        raise ValueError(f"the estimate needs at least one test image, not {n_images}")
    ckpt = load_checkpoint(path)
    check_estimable(ckpt.model, k)
    test = dataset if isinstance(dataset, ImageData) else load_dataset(dataset, "test", root)
    rows = sample_indices(len(test), n_images, seed)
    result = iwae_nll(ckpt.model, test.subset(rows).images, k, seed, progress, should_stop)
    if not result.stopped:
        metrics = read_metadata(path).get("metrics") or {}
        update_metadata(
            path, {"metrics": metrics | {IWAE: result.to_metrics() | {"dataset": f"{test.name} test", "seed": seed}}}
        )
    return result
