"""Where samples come from, beyond one Gaussian, and a sample-quality figure that collapse cannot fool.

An autoencoder has no prior: today's samples come from one Gaussian fitted to its codes (priors.prior_for),
which puts mass between the digits' clusters where the decoder draws blends. A Gaussian mixture fitted to the
codes follows the clusters (Ghosh et al. 2020 sample their RAEs so); for a VAE the same mixture fitted to its
aggregate posterior q(z) = mean over x of q(z|x) is closer to where the decoder was trained than N(0, I) is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aelab.explore.encoding import Codes
from aelab.explore.neighbours import neighbour_table
from aelab.models.autoencoders import LatentModel

DEFAULT_COMPONENTS = 10  # one per digit class, as a start
QUALITY_K = 5  # Naeem et al.'s k for density and coverage
QUALITY_SAMPLES = 1000  # samples and real images compared: the figures expect as many of each


@dataclass(frozen=True)
class Mixture:
    """A Gaussian mixture in latent space: component weights (n,), means (n, D), Cholesky factors (n, D, D)."""

    weights: np.ndarray
    means: np.ndarray
    chols: np.ndarray
    description: str

    @classmethod
    def from_prior(cls, prior: Prior) -> Mixture:
        """The single Gaussian of `priors.prior_for` as a mixture of one, so one sampler serves both."""
        return cls(np.ones(1), prior.mean[None], prior.chol[None], prior.description)


def fit_mixture(codes: Codes, n_components: int = DEFAULT_COMPONENTS, seed: int = 0) -> Mixture:
    """A full-covariance Gaussian mixture (scikit-learn) fitted to a dataset's codes, seeded.

    For a VAE (codes with log-variances) it is fitted to one draw from each q(z|x), a sample of the aggregate
    posterior: its posterior means alone are narrower than what the decoder saw in training.
    One thread: k-means' start oversubscribes shared cores with more, and data this small gains nothing from them.
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    points = np.asarray(codes.mu, dtype=np.float64)
    if not 1 <= n_components <= len(points) // 2:
        raise ValueError(
            f"A mixture of {n_components} components needs at least {2 * n_components} codes and "
            f"n_components >= 1; there are {len(points)} codes"
        )
    if codes.logvar is not None:
        eps = np.random.default_rng(seed).standard_normal(points.shape)
        points = points + eps * np.exp(0.5 * codes.logvar)
        fitted_to = "a sample of the VAE's aggregate posterior"
    else:
        fitted_to = "the autoencoder's codes"
    with threadpool_limits(1):
        gm = GaussianMixture(n_components, covariance_type="full", reg_covar=1e-5, random_state=seed).fit(points)
    return Mixture(
        gm.weights_,
        gm.means_,
        np.linalg.cholesky(gm.covariances_),
        f"z ~ a mixture of {n_components} Gaussians fitted to {fitted_to}",
    )


def sample_mixture(mixture: Mixture, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """n codes (n, D) float32: a component drawn by weight, then a draw from it, spread scaled by `temperature`
    as `priors.sample` scales its Gaussian's."""
    rng = np.random.default_rng(seed)
    component = rng.choice(len(mixture.weights), size=n, p=mixture.weights / mixture.weights.sum())
    eps = rng.standard_normal((n, mixture.means.shape[1]))
    spread = np.einsum("nij,nj->ni", mixture.chols[component], eps)
    return (mixture.means[component] + temperature * spread).astype(np.float32)


@dataclass(frozen=True)
class Quality:
    """Naeem et al.'s density (how many real neighbourhoods each sample lies in, over k; about 1 for samples
    like the data, above 1 when they crowd into dense regions) and coverage (the share of real images with a
    sample among their k nearest neighbours: near 1 for samples like the data, low for collapsed ones)."""

    density: float
    coverage: float


def density_coverage(real: np.ndarray, samples: np.ndarray, k: int = QUALITY_K) -> Quality:
    """Density and coverage (Naeem et al. 2020) of `samples` against `real` images, in pixel space.

    Chosen over precision and recall (Kynkäänniemi et al. 2019) because both figures take their
    neighbourhoods from the real images only: an outlier sample cannot inflate them. Copies of one real digit,
    which the nearest-image distance and precision call perfect, score a low coverage (tests/unit/test_priors.py
    holds it to that). Pixels, not codes, so that every model is measured in the same space. Give as many samples
    as real images (QUALITY_SAMPLES): coverage of the data by itself is then about 1 - 2^-k (0.97, k = 5).
    """
    from scipy.spatial.distance import cdist

    real = np.asarray(real, dtype=np.float32).reshape(len(real), -1)
    samples = np.asarray(samples, dtype=np.float32).reshape(len(samples), -1)
    if real.shape[1] != samples.shape[1] or len(samples) < 1 or not 1 <= k < len(real):
        raise ValueError(
            f"density and coverage need samples like the real images and 1 <= k < {len(real)} real "
            f"images; got {len(real)} real of {real.shape[1]} pixels, {len(samples)} samples of "
            f"{samples.shape[1]}, k={k}"
        )
    kth = neighbour_table(real, k)[:, -1]
    radius = np.linalg.norm(real - real[kth], axis=1)  # each real image's distance to its k-th nearest other one
    inside = cdist(real, samples) <= radius[:, None]  # (real, samples): sample j in real i's neighbourhood
    return Quality(float(inside.sum() / (k * len(samples))), float(inside.any(1).mean()))


@dataclass
class Prior:
    """Where samples come from: N(0, I) for a VAE; for an AE, a Gaussian fitted to its codes."""

    mean: np.ndarray
    chol: np.ndarray  # Cholesky factor of the covariance
    description: str


def prior_for(model: LatentModel, codes: Codes | None) -> Prior:
    """The sampling distribution; `codes` (the dataset's) are needed for autoencoders only."""
    if model.is_variational:
        return standard_normal(model.latent_dim, "z ~ N(0, I), the VAE's prior")
    if codes is None:
        raise ValueError("An autoencoder's prior is fitted to its codes: pass the dataset's codes")
    return fitted_gaussian(codes, "z ~ N(mean, cov) fitted to the autoencoder's codes (it has no prior of its own)")


def standard_normal(d: int, description: str = "z ~ N(0, I)") -> Prior:
    """N(0, I) in d dimensions: a VAE's prior, and for an autoencoder a prior it was never trained towards."""
    return Prior(np.zeros(d), np.eye(d), description)


def fitted_gaussian(codes: Codes, description: str = "z ~ N(mean, cov) fitted to the codes") -> Prior:
    """One full-covariance Gaussian fitted to a dataset's codes (posterior means, for a VAE)."""
    d = codes.mu.shape[1]
    cov = np.cov(codes.mu, rowvar=False) + 1e-5 * np.eye(d)
    return Prior(codes.mu.mean(0), np.linalg.cholesky(cov), description)


def sample(prior: Prior, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """n codes from the prior, spread scaled by `temperature`."""
    eps = np.random.default_rng(seed).standard_normal((n, len(prior.mean)))
    return (prior.mean + temperature * eps @ prior.chol.T).astype(np.float32)


def nearest_distances(queries: np.ndarray, reference: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
    """Euclidean pixel distance from each query image to its nearest reference image.

    A sample far from every real image is not a plausible digit; `skip[i]` names a reference
    row query i may not match (itself, when the queries are drawn from the reference).
    """
    q = queries.reshape(len(queries), -1).astype(np.float32)
    r = reference.reshape(len(reference), -1).astype(np.float32, copy=False)
    squared = (q**2).sum(1)[:, None] + (r**2).sum(1)[None, :] - 2.0 * q @ r.T
    if skip is not None:
        squared[np.arange(len(q)), skip] = np.inf
    return np.sqrt(np.maximum(squared.min(1), 0.0))


def diversity(images: np.ndarray) -> float:
    """Mean Euclidean pixel distance between every two of the images.

    Collapse cannot fool it: 64 copies of one blurry 8 lie near a test image (a good nearest-
    image score) but score almost no diversity, where real MNIST test images score about 10.
    """
    from scipy.spatial.distance import pdist

    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if len(flat) < 2:
        raise ValueError("diversity needs at least two images")
    return float(pdist(flat).mean())
