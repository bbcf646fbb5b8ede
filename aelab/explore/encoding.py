"""A dataset's codes (a VAE's posterior means and log-variances), decoding, and what each dimension holds.
Torch is imported by the functions that run a model: codes read from the disk cache do not need it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from aelab.images.render import to_pictures, to_tensor
from aelab.store.cache import load_arrays, store_once

if TYPE_CHECKING:
    import torch

    from aelab.data.streaming import Images
    from aelab.models.autoencoders import LatentModel

# --- encoding and decoding --------------------------------------------------------------


@dataclass
class Codes:
    """Latent codes of a dataset: mu (N, D) and, for VAEs, the posterior log-variance."""

    mu: np.ndarray
    logvar: np.ndarray | None = None


class EncodingStopped(Exception):
    """The person stopped an encoding before its last batch: nothing was kept."""


def encode_all(
    model: LatentModel,
    images: Images,
    batch_size: int = 500,
    progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Codes:
    """Encode every image (posterior means and log-variances for VAEs), in memory or streamed from files.

    Batches of 500 keep a conv encoder's activations in the CPU cache; a stream (`ImageFiles`) is read
    batch by batch, so only the codes stay, never the dataset's pixels as floats. `progress(fraction)`
    after each batch; `should_stop()`, asked between batches, raises EncodingStopped. A file of a stream
    that cannot be read leaves no code in its row, so it is a ValueError: the codes must keep the rows.
    """
    import torch

    from aelab.data.streaming import batches, in_order

    model.eval()
    index = in_order(len(images), batch_size)
    mus, logvars, done = [], [], 0
    with torch.no_grad():
        for positions, x in zip(index, batches(images, index)):
            if len(x) != len(positions):
                raise ValueError(f"{len(positions) - len(x)} of the images could not be read: no codes for them")
            if model.is_variational:
                mu, logvar = model.posterior(x)
                logvars.append(logvar.numpy())
            else:
                mu = model.encode(x)
            mus.append(mu.numpy())
            done += len(positions)
            if progress:
                progress(done / len(images))
            if should_stop and should_stop() and done < len(images):
                raise EncodingStopped(f"Stopped after {done} of {len(images)} images")
    return Codes(np.concatenate(mus), np.concatenate(logvars) if logvars else None)


def encode(model: LatentModel, images: np.ndarray) -> np.ndarray:
    """Codes (N, D) of pictures (uploads) of the model's shape: one or N of them, (H, W) gray or (H, W, 3) RGB."""

    import torch

    x = to_tensor(images, model.image_shape)
    model.eval()
    with torch.no_grad():
        return model.encode(x).numpy()


def decode(model: LatentModel, z: np.ndarray) -> np.ndarray:
    """Decode codes (D,) or (N, D) into pictures in [0, 1]: (N, H, W) gray or (N, H, W, 3) RGB."""

    import torch

    model.eval()
    with torch.no_grad():
        # a copy: the codes may be a read-only view of the app's shared ones (torch warns on sharing those)
        return to_pictures(model.decode(torch.tensor(np.atleast_2d(z), dtype=torch.float32)).sigmoid())


def reconstruct(model: LatentModel, images: torch.Tensor) -> np.ndarray:
    """Deterministic reconstructions, as pictures in [0, 1] ((N, H, W) or (N, H, W, 3)), of images (N, C, H, W)."""

    import torch

    model.eval()
    with torch.no_grad():
        return to_pictures(model.reconstruct(images).sigmoid())


@dataclass
class Posterior:
    """One image's posterior q(z|x) = N(mu, sigma^2) per dimension, its KL from the prior per dimension (nats),
    and decodes of draws z = mu + sigma * eps: the reparameterisation trick, as pictures."""

    mu: np.ndarray  # (D,)
    sigma: np.ndarray  # (D,)
    kl: np.ndarray  # (D,) nats
    eps: np.ndarray  # (draws, D) the standard normal noise of each draw
    draws: np.ndarray  # (draws, H, W) or (draws, H, W, 3): decode(mu + sigma * eps)
    mean_decode: np.ndarray  # decode(mu): the deterministic reconstruction


def posterior_of(model: LatentModel, image: torch.Tensor, draws: int = 8, seed: int = 0) -> Posterior:
    """The posterior of one image (1, C, H, W) under a VAE and `draws` decodes of it, seeded; ValueError for an
    autoencoder, which has a code but no posterior."""
    if not model.is_variational:
        raise ValueError("An autoencoder maps an image to one code: it has no posterior to draw from")
    import torch

    model.eval()
    with torch.no_grad():
        mu, logvar = (t.numpy()[0] for t in model.posterior(image))
    sigma = np.exp(0.5 * logvar)
    eps = np.random.default_rng(seed).standard_normal((draws, len(mu))).astype(np.float32)
    kl = kl_per_dim(Codes(mu[None], logvar[None]))[0]
    return Posterior(mu, sigma, kl, eps, decode(model, mu + sigma * eps), decode(model, mu)[0])


# --- what each dimension does ------------------------------------------------------------


@dataclass
class DimensionStats:
    """Per-dimension importance and slider ranges, most important dimension first in `order`."""

    importance: np.ndarray  # KL per dimension (VAE, nats) or variance of the codes (AE)
    order: np.ndarray  # dimensions sorted by importance, descending
    collapsed: np.ndarray  # bool per dimension: not an active unit (metrics.active_units)
    low: np.ndarray  # 1st percentile of the codes, per dimension
    high: np.ndarray  # 99th percentile
    measure: str  # "KL (nats)" or "variance"


def kl_per_dim(codes: Codes) -> np.ndarray:
    """(N, D) KL of each image's posterior from the standard normal prior, per dimension (nats); VAE codes only."""
    if codes.logvar is None:
        raise ValueError("An autoencoder's codes have no posterior: KL is for VAEs")
    return 0.5 * (codes.mu**2 + np.exp(codes.logvar) - 1.0 - codes.logvar)


def dimension_stats(codes: Codes) -> DimensionStats:
    """Rank dimensions by KL (VAE) or code variance (AE) and take slider ranges from the data.

    A dimension is collapsed exactly when it is not an active unit, the rule the model card's
    "active units" counts by, so the sliders and the card never disagree.
    """
    from aelab.explore.metrics import active_units  # metrics evaluates models: it imports torch

    if codes.logvar is not None:
        importance, measure = kl_per_dim(codes).mean(0), "KL (nats)"
    else:
        importance, measure = codes.mu.var(0), "variance"
    low, high = np.percentile(codes.mu, [1, 99], axis=0)
    return DimensionStats(
        importance, np.argsort(-importance, kind="stable"), ~active_units(codes.mu), low, high, measure
    )


def stored_codes(key: str) -> bool:
    """Whether the disk cache holds codes under `key` (nothing read but the file's index)."""
    return load_arrays("codes", key, names=()) is not None


def cached_codes(key: str, compute: Callable[[], Codes]) -> Codes:
    """A dataset's codes from the disk cache, else encoded and stored (the first stored, as for projections)."""
    arrays = load_arrays("codes", key)
    if arrays is None:
        codes = compute()
        arrays = store_once("codes", key, {"mu": codes.mu} | ({} if codes.logvar is None else {"logvar": codes.logvar}))
    return Codes(arrays["mu"], arrays.get("logvar"))
