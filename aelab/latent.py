"""The latent space: codes of a dataset, 2-D maps (PCA, t-SNE), traversal, interpolation, sampling.

Everything takes and returns NumPy arrays so the app can cache it; codes of a VAE are its
posterior means. Codes and projections are kept in the disk cache (aelab.cache). The functions
that run a model import torch; the rest (maps, paths, samples) need only NumPy, so the app's
first page reads its map from the disk cache before torch is loaded.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
from threadpoolctl import threadpool_limits

from aelab.cache import load_arrays, store_once
from aelab.data import sample_indices

if TYPE_CHECKING:
    import torch

    from aelab.models import LatentModel


# --- encoding and decoding --------------------------------------------------------------


@dataclass
class Codes:
    """Latent codes of a dataset: mu (N, D) and, for VAEs, the posterior log-variance."""

    mu: np.ndarray
    logvar: np.ndarray | None = None


def encode_all(model: LatentModel, images: torch.Tensor, batch_size: int = 500) -> Codes:
    """Encode every image (posterior means and log-variances for VAEs).

    Batches of 500 keep a conv encoder's activations in the CPU cache: twice as fast as 2000.
    """
    import torch

    model.eval()
    mus, logvars = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size]
            if model.is_variational:
                mu, logvar = model.posterior(x)
                logvars.append(logvar.numpy())
            else:
                mu = model.encode(x)
            mus.append(mu.numpy())
    return Codes(np.concatenate(mus), np.concatenate(logvars) if logvars else None)


def encode(model: LatentModel, images: np.ndarray) -> np.ndarray:
    """Codes (N, D) of pictures (uploads) of the model's shape: one or N of them, (H, W) gray or (H, W, 3) RGB."""
    import torch

    from aelab.images import to_tensor

    x = to_tensor(images, model.image_shape)
    model.eval()
    with torch.no_grad():
        return model.encode(x).numpy()


def decode(model: LatentModel, z: np.ndarray) -> np.ndarray:
    """Decode codes (D,) or (N, D) into pictures in [0, 1]: (N, H, W) gray or (N, H, W, 3) RGB."""
    import torch

    from aelab.images import to_pictures

    model.eval()
    with torch.no_grad():
        return to_pictures(model.decode(torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)).sigmoid())


def reconstruct(model: LatentModel, images: torch.Tensor) -> np.ndarray:
    """Deterministic reconstructions, as pictures in [0, 1] ((N, H, W) or (N, H, W, 3)), of images (N, C, H, W)."""
    import torch

    from aelab.images import to_pictures

    model.eval()
    with torch.no_grad():
        return to_pictures(model.reconstruct(images).sigmoid())


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
    from aelab.metrics import active_units

    if codes.logvar is not None:
        importance, measure = kl_per_dim(codes).mean(0), "KL (nats)"
    else:
        importance, measure = codes.mu.var(0), "variance"
    low, high = np.percentile(codes.mu, [1, 99], axis=0)
    return DimensionStats(importance, np.argsort(-importance, kind="stable"), ~active_units(codes.mu), low, high,
                          measure)


def traversal_values(low: np.ndarray, high: np.ndarray, dims: list[int], steps: int) -> np.ndarray:
    """(len(dims), steps): the values each of `dims` takes across a traversal grid's row."""
    return np.stack([np.linspace(low[d], high[d], steps) for d in dims]).astype(np.float32)


def traversal_grid(model: LatentModel, base: np.ndarray, dims: list[int], low: np.ndarray, high: np.ndarray,
                   steps: int) -> np.ndarray:
    """Decode `base` with each of `dims` swept from low to high: len(dims) * steps pictures."""
    z = np.repeat(base[None, :], len(dims) * steps, axis=0).astype(np.float32)
    for row, (d, values) in enumerate(zip(dims, traversal_values(low, high, dims, steps))):
        z[row * steps:(row + 1) * steps, d] = values
    return decode(model, z)


# --- paths and samples -------------------------------------------------------------------


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """Codes from a to b inclusive; 'slerp' follows the great circle, which keeps the norm typical
    of a Gaussian prior instead of cutting through the low-density centre."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if method == "linear":
        return ((1 - t) * a + t * b).astype(np.float32)
    if method != "slerp":
        raise ValueError(f"method must be 'linear' or 'slerp', not {method!r}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(a / max(na, 1e-8), b / max(nb, 1e-8)), -1.0, 1.0))
    if omega < 1e-4:
        return interpolate(a, b, steps, "linear")
    path = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return path.astype(np.float32)


def step_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute pixel change from each frame to the next: a spike is where the path jumps."""
    return np.abs(np.diff(frames, axis=0)).reshape(len(frames) - 1, -1).mean(1)


def mean_frame_change(frames: np.ndarray) -> float:
    """Mean absolute pixel change between neighbouring frames: low means a smooth path."""
    return float(step_changes(frames).mean()) if len(frames) > 1 else 0.0


@dataclass
class Prior:
    """Where samples come from: N(0, I) for a VAE; for an AE, a Gaussian fitted to its codes."""

    mean: np.ndarray
    chol: np.ndarray  # Cholesky factor of the covariance
    description: str


def prior_for(model: LatentModel, codes: Codes | None) -> Prior:
    """The sampling distribution; `codes` (the dataset's) are needed for autoencoders only."""
    d = model.latent_dim
    if model.is_variational:
        return Prior(np.zeros(d), np.eye(d), "z ~ N(0, I), the VAE's prior")
    cov = np.cov(codes.mu, rowvar=False) + 1e-5 * np.eye(d)
    return Prior(codes.mu.mean(0), np.linalg.cholesky(cov),
                 "z ~ N(mean, cov) fitted to the autoencoder's codes (it has no prior of its own)")


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


# --- 2-D maps ----------------------------------------------------------------------------


@dataclass
class Projection:
    """A 2-D map of (a subset of) the codes; `index` says which dataset rows were mapped."""

    method: str  # "pca" or "tsne"
    coords: np.ndarray  # (M, 2)
    index: np.ndarray  # (M,) rows of the dataset
    params: dict = field(default_factory=dict)
    mean: np.ndarray | None = None  # PCA only: x ~ mean + coords @ components
    components: np.ndarray | None = None

    def position(self, row: int) -> int | None:
        """Where dataset row `row` is among `coords`, or None when this map leaves it out (t-SNE maps a sample)."""
        found = np.flatnonzero(self.index == row)
        return int(found[0]) if len(found) else None

    def positions(self, rows: Iterable[int]) -> np.ndarray:
        """Where each of the dataset `rows` is among `coords`, leaving out those this map does not hold."""
        return np.flatnonzero(np.isin(self.index, np.fromiter(rows, dtype=np.int64)))

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        """Codes at map positions (PCA only): the decoder can then draw any point of the map."""
        if self.method != "pca":
            raise ValueError("Only a PCA map can be inverted")
        return (np.atleast_2d(xy) @ self.components + self.mean).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"coords": self.coords, "index": self.index, "params": np.array(json.dumps(self.params))}
        if self.method == "pca":
            arrays |= {"mean": self.mean, "components": self.components}
        return arrays

    @classmethod
    def from_arrays(cls, method: str, arrays: dict[str, np.ndarray]) -> Projection:
        return cls(method, arrays["coords"], arrays["index"], json.loads(str(arrays["params"])),
                   arrays.get("mean"), arrays.get("components"))


def pca(codes: np.ndarray) -> Projection:
    """The two principal axes of the codes: instant, linear, and invertible.

    A thin SVD in NumPy rather than scikit-learn's PCA: the same axes (signs fixed the same
    way), without the two seconds that importing scikit-learn adds to the app's first page.
    On one BLAS thread: codes are narrow, and on this project's two cores two threads took
    0.25 s for 10,000 codes of 20 dimensions where one took 0.005 s.
    """
    codes = np.asarray(codes, dtype=np.float64)
    mean = codes.mean(0)
    with threadpool_limits(1, user_api="blas"):
        _, singular, vt = np.linalg.svd(codes - mean, full_matrices=False)
    components = fix_signs(vt[:2])
    variance = singular**2
    ratio = [round(float(r), 4) for r in variance[:2] / variance.sum()]
    coords = ((codes - mean) @ components.T).astype(np.float32)
    return Projection("pca", coords, np.arange(len(codes)), {"explained_variance_ratio": ratio},
                      mean.astype(np.float32), components.astype(np.float32))


def fix_signs(rows: np.ndarray) -> np.ndarray:
    """Each row (an axis) flipped so that its largest component is positive, as scikit-learn does:
    SVD and eigen-solvers return either sign, and a map or slider must not flip between runs."""
    return rows * np.sign(rows[np.arange(len(rows)), np.abs(rows).argmax(1)])[:, None]


PLANE_SIDE = 20  # decodes per side of the PCA map's background


def decoded_plane(model: LatentModel, projection: Projection, n: int = PLANE_SIDE
                  ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Kingma and Welling's 2-D manifold figure for any model: the decodes of an n x n grid over a PCA map
    (the codes' mean along every other axis), tiled into one picture, highest PCA 2 at the top; and the
    extent (x0, x1, y0, y1) it covers on the map, each tile centred on its grid point."""
    (x0, y0), (x1, y1) = projection.coords.min(0), projection.coords.max(0)
    xs, ys = np.linspace(x0, x1, n), np.linspace(y1, y0, n)
    gx, gy = np.meshgrid(xs, ys)
    tiles = decode(model, projection.inverse(np.c_[gx.ravel(), gy.ravel()]))
    rows = [np.concatenate(list(tiles[r * n:(r + 1) * n]), axis=1) for r in range(n)]
    dx, dy = (x1 - x0) / (n - 1) / 2, (y1 - y0) / (n - 1) / 2
    return np.concatenate(rows, axis=0), (float(x0 - dx), float(x1 + dx), float(y0 - dy), float(y1 + dy))


def pca_transform(projection: Projection, codes: np.ndarray) -> np.ndarray:
    return ((np.atleast_2d(codes) - projection.mean) @ projection.components.T).astype(np.float32)


def tsne(codes: np.ndarray, n_points: int = 5000, perplexity: float = 30.0, seed: int = 0,
         progress: Callable[[float], None] | None = None) -> Projection:
    """openTSNE embedding of up to `n_points` codes; `progress(fraction)` as it optimises."""
    from openTSNE import TSNE

    index = sample_indices(len(codes), n_points, seed)  # the same settings map the same points
    exaggeration_iter, n_iter = 250, 500
    total = exaggeration_iter + n_iter
    done = {"iters": 0}

    def callback(iteration: int, error: float, embedding: np.ndarray) -> None:
        done["iters"] += 25
        if progress:
            progress(min(1.0, done["iters"] / total))

    estimator = TSNE(perplexity=perplexity, n_jobs=os.cpu_count() or 1, random_state=seed,
                     early_exaggeration_iter=exaggeration_iter, n_iter=n_iter,
                     callbacks=callback, callbacks_every_iters=25)
    embedding = estimator.fit(codes[index])
    return Projection("tsne", np.asarray(embedding, dtype=np.float32), index,
                      {"perplexity": perplexity, "n_points": len(index), "seed": seed})


def umap(codes: np.ndarray, n_points: int = 5000, n_neighbors: int = 15, seed: int = 0,
         progress: Callable[[float], None] | None = None) -> Projection:
    """umap-learn's embedding of up to `n_points` codes; `progress(fraction)` over its optimisation epochs
    (read from the tqdm bar umap-learn writes; finding neighbours before them counts as 0)."""
    import umap as umap_learn

    index = sample_indices(len(codes), n_points, seed)

    class Epochs:  # a file for tqdm: each line it writes is "done/total"
        def write(self, text: str) -> None:
            found = re.search(r"(\d+)/(\d+)", text)
            if found and progress and int(found[2]):
                progress(int(found[1]) / int(found[2]))

        def flush(self) -> None:
            pass

    estimator = umap_learn.UMAP(n_neighbors=n_neighbors, random_state=seed, n_jobs=1,
                                tqdm_kwds={"disable": False, "file": Epochs(), "bar_format": "{n}/{total}\n",
                                           "mininterval": 0.5})
    embedding = estimator.fit_transform(codes[index])
    return Projection("umap", np.asarray(embedding, dtype=np.float32), index,
                      {"n_neighbors": n_neighbors, "n_points": len(index), "seed": seed})


def place_by_neighbours(projection: Projection, codes: np.ndarray, new_codes: np.ndarray, k: int = 10) -> np.ndarray:
    """Where new codes fall on a map that cannot transform them itself (UMAP read back from the disk cache):
    the inverse-distance weighted mean of the map positions of their k nearest mapped codes."""
    mapped = codes[projection.index].astype(np.float32)
    new_codes = np.atleast_2d(new_codes).astype(np.float32)
    distance = np.sqrt(((new_codes[:, None, :] - mapped[None, :, :]) ** 2).sum(-1))
    nearest = np.argsort(distance, axis=1)[:, :k]
    weight = 1.0 / (np.take_along_axis(distance, nearest, 1) + 1e-6)
    return ((projection.coords[nearest] * weight[..., None]).sum(1) / weight.sum(1, keepdims=True)).astype(np.float32)


def tsne_placer(projection: Projection, codes: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function placing new codes on an existing t-SNE map (openTSNE's transform).

    Rebuilds the neighbour index from the mapped codes, so it also works for maps read
    back from the disk cache. The fit re-centres the map after every step; placing points
    does not, so an unconverged map's net drift moves every placed point by the same offset
    (up to a third of the map's spread). Placing a sample of the mapped points themselves
    measures that offset, and it is subtracted.
    """
    from openTSNE import TSNEEmbedding
    from openTSNE.affinity import PerplexityBasedNN

    params = projection.params
    affinities = PerplexityBasedNN(codes[projection.index], perplexity=params["perplexity"],
                                   n_jobs=os.cpu_count() or 1, random_state=params["seed"])
    embedding = TSNEEmbedding(projection.coords.astype(np.float64), affinities, random_state=params["seed"])

    def transform(new_codes: np.ndarray) -> np.ndarray:
        return np.asarray(embedding.transform(np.atleast_2d(new_codes).astype(np.float64)), dtype=np.float32)

    sample = np.arange(0, len(projection.index), max(1, len(projection.index) // 100))
    drift = np.median(transform(codes[projection.index[sample]]) - projection.coords[sample], axis=0)
    return lambda new_codes: transform(new_codes) - drift


def codes_csv(mu: np.ndarray, labels: np.ndarray, projection: Projection, rows: np.ndarray | None = None) -> bytes:
    """index, label, z_0..z_{D-1} and the map's x and y for every row (or only `rows`), as CSV for any other tool."""
    xy = np.full((len(mu), 2), np.nan, dtype=np.float32)
    xy[projection.index] = projection.coords
    columns = ["index", "label", *[f"z_{d}" for d in range(mu.shape[1])], f"{projection.method}_x",
               f"{projection.method}_y"]
    rows = np.arange(len(mu)) if rows is None else np.asarray(rows)
    table = np.column_stack([rows, labels[rows], mu[rows], xy[rows]])
    buffer = io.StringIO()
    np.savetxt(buffer, table, fmt=["%d", "%d"] + ["%.6g"] * (mu.shape[1] + 2), delimiter=",",
               header=",".join(columns), comments="")
    return buffer.getvalue().encode()


# --- disk cache --------------------------------------------------------------------------


def load_projection(key: str, method: str) -> Projection | None:
    arrays = load_arrays(method, key)
    return None if arrays is None else Projection.from_arrays(method, arrays)


def cached_projection(key: str, method: str, compute: Callable[[], Projection]) -> Projection:
    """The projection stored under `key`, else computed and stored; computed by another process at the
    same time, the one stored first."""
    found = load_projection(key, method)
    if found is None:
        found = Projection.from_arrays(method, store_once(method, key, compute().to_arrays()))
    return found


def cached_codes(key: str, compute: Callable[[], Codes]) -> Codes:
    """A dataset's codes from the disk cache, else encoded and stored (the first stored, as for projections)."""
    arrays = load_arrays("codes", key)
    if arrays is None:
        codes = compute()
        arrays = store_once("codes", key, {"mu": codes.mu} | ({} if codes.logvar is None else {"logvar": codes.logvar}))
    return Codes(arrays["mu"], arrays.get("logvar"))
