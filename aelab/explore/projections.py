"""2-D maps of the codes (PCA, t-SNE with openTSNE, UMAP), new codes placed on them, and their disk cache."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from aelab.data.dataset import sample_indices
from aelab.explore.encoding import decode
from aelab.store.cache import load_arrays, store_once

if TYPE_CHECKING:
    from aelab.models.autoencoders import LatentModel

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

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """A PCA map's mean and components, which turn codes into map positions and back; a t-SNE map has none."""
        if self.mean is None or self.components is None:
            raise ValueError("Only a PCA map can be inverted")
        return self.mean, self.components

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        """Codes at map positions (PCA only): the decoder can then draw any point of the map."""
        mean, components = self.axes()
        return (np.atleast_2d(xy) @ components + mean).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"coords": self.coords, "index": self.index, "params": np.array(json.dumps(self.params))}
        if self.method == "pca":
            mean, components = self.axes()
            arrays |= {"mean": mean, "components": components}
        return arrays

    @classmethod
    def from_arrays(cls, method: str, arrays: dict[str, np.ndarray]) -> Projection:
        return cls(
            method,
            arrays["coords"],
            arrays["index"],
            json.loads(str(arrays["params"])),
            arrays.get("mean"),
            arrays.get("components"),
        )


def pca(codes: np.ndarray) -> Projection:
    """The two principal axes of the codes: instant, linear, and invertible.

    A thin SVD in NumPy rather than scikit-learn's PCA: the same axes (signs fixed the same
    way), without importing scikit-learn for the first page. On one BLAS thread: codes are
    narrow, and more threads on shared cores only wait for each other.
    """
    codes = np.asarray(codes, dtype=np.float64)
    mean = codes.mean(0)
    with threadpool_limits(1, user_api="blas"):
        _, singular, vt = np.linalg.svd(codes - mean, full_matrices=False)
    components = fix_signs(vt[:2])
    variance = singular**2
    ratio = [round(float(r), 4) for r in variance[:2] / variance.sum()]
    coords = ((codes - mean) @ components.T).astype(np.float32)
    return Projection(
        "pca",
        coords,
        np.arange(len(codes)),
        {"explained_variance_ratio": ratio},
        mean.astype(np.float32),
        components.astype(np.float32),
    )


def fix_signs(rows: np.ndarray) -> np.ndarray:
    """Each row (an axis) flipped so that its largest component is positive, as scikit-learn does:
    SVD and eigen-solvers return either sign, and a map or slider must not flip between runs."""
    return rows * np.sign(rows[np.arange(len(rows)), np.abs(rows).argmax(1)])[:, None]


PLANE_SIDE = 20  # decodes per side of the PCA map's background


def decoded_plane(
    model: LatentModel, projection: Projection, n: int = PLANE_SIDE
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Kingma and Welling's 2-D manifold figure for any model: the decodes of an n x n grid over a PCA map
    (the codes' mean along every other axis), tiled into one picture, highest PCA 2 at the top; and the
    extent (x0, x1, y0, y1) it covers on the map, each tile centred on its grid point."""
    (x0, y0), (x1, y1) = projection.coords.min(0), projection.coords.max(0)
    xs, ys = np.linspace(x0, x1, n), np.linspace(y1, y0, n)
    gx, gy = np.meshgrid(xs, ys)
    tiles = decode(model, projection.inverse(np.c_[gx.ravel(), gy.ravel()]))
    rows = [np.concatenate(list(tiles[r * n : (r + 1) * n]), axis=1) for r in range(n)]
    dx, dy = (x1 - x0) / (n - 1) / 2, (y1 - y0) / (n - 1) / 2
    return np.concatenate(rows, axis=0), (float(x0 - dx), float(x1 + dx), float(y0 - dy), float(y1 + dy))


def pca_transform(projection: Projection, codes: np.ndarray) -> np.ndarray:
    mean, components = projection.axes()
    return ((np.atleast_2d(codes) - mean) @ components.T).astype(np.float32)


FFT_POINTS = 10_000  # t-SNE of this many codes or more: openTSNE's FFT gradient (openTSNE's own switch point)


def tsne(
    codes: np.ndarray,
    n_points: int = 5000,
    perplexity: float = 30.0,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> Projection:
    """openTSNE embedding of up to `n_points` codes; `progress(fraction)` as it optimises.

    From FFT_POINTS codes on, the repulsive forces are interpolated on a grid by FFT (Linderman et al.'s
    FIt-SNE), whose cost grows linearly with the points; below it Barnes-Hut's tree is the quicker.
    """
    from openTSNE import TSNE

    index = sample_indices(len(codes), n_points, seed)  # the same settings map the same points
    exaggeration_iter, n_iter = 250, 500
    total = exaggeration_iter + n_iter
    done = {"iters": 0}

    def callback(iteration: int, error: float, embedding: np.ndarray) -> None:
        done["iters"] += 25
        if progress:
            progress(min(1.0, done["iters"] / total))

    gradient = "fft" if len(index) >= FFT_POINTS else "bh"
    estimator = TSNE(
        perplexity=perplexity,
        negative_gradient_method=gradient,
        n_jobs=os.cpu_count() or 1,
        random_state=seed,
        early_exaggeration_iter=exaggeration_iter,
        n_iter=n_iter,
        callbacks=callback,
        callbacks_every_iters=25,
    )
    embedding = estimator.fit(codes[index])
    return Projection(
        "tsne",
        np.asarray(embedding, dtype=np.float32),
        index,
        {"perplexity": perplexity, "n_points": len(index), "seed": seed, "gradient": gradient},
    )


_umap_fitted: list[int] = []  # the UMAPs fitted in this process: the first compiles umap-learn's numba code


def umap_compiled() -> bool:
    """Whether this process has fitted a UMAP already, so its code is compiled and the next starts at once."""
    return bool(_umap_fitted)


def umap(
    codes: np.ndarray,
    n_points: int = 5000,
    n_neighbors: int = 15,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> Projection:
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

    estimator = umap_learn.UMAP(
        n_neighbors=n_neighbors,
        random_state=seed,
        n_jobs=1,
        tqdm_kwds={"disable": False, "file": Epochs(), "bar_format": "{n}/{total}\n", "mininterval": 0.5},
    )
    embedding = estimator.fit_transform(codes[index])
    _umap_fitted.append(len(index))
    return Projection(
        "umap",
        np.asarray(embedding, dtype=np.float32),
        index,
        {"n_neighbors": n_neighbors, "n_points": len(index), "seed": seed},
    )


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
    affinities = PerplexityBasedNN(
        codes[projection.index],
        perplexity=params["perplexity"],
        n_jobs=os.cpu_count() or 1,
        random_state=params["seed"],
    )
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
    columns = [
        "index",
        "label",
        *[f"z_{d}" for d in range(mu.shape[1])],
        f"{projection.method}_x",
        f"{projection.method}_y",
    ]
    rows = np.arange(len(mu)) if rows is None else np.asarray(rows)
    table = np.column_stack([rows, labels[rows], mu[rows], xy[rows]])
    buffer = io.StringIO()
    np.savetxt(
        buffer,
        table,
        fmt=["%d", "%d"] + ["%.6g"] * (mu.shape[1] + 2),
        delimiter=",",
        header=",".join(columns),
        comments="",
    )
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
