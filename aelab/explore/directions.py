"""Semantic directions in latent space: sliders along what the data or the decoder varies most, not raw axes.

Three sources, one shape (`Directions`: named unit vectors, strongest first):
- principal components of a dataset's codes (Härkönen et al. 2020, GANSpace): where the data spreads;
- the closed-form factorisation of the decoder's first linear layer (Shen & Zhou 2021, SeFa): where a
  small step in z changes the decoder's first activations most, found from the weights alone;
- an attribute vector: the mean code of one group minus that of another ("0" minus "1", a selection B
  minus a selection A).
A walk decodes base + t * direction; its grid and GIF reuse the traversal figures' helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from aelab.explore.encoding import decode
from aelab.explore.projections import fix_signs
from aelab.images import render
from aelab.models.autoencoders import LatentModel

WALK_EXTENT = 3.0  # a walk spans +- this many standard deviations of the codes along its direction


@dataclass(frozen=True)
class Directions:
    """Unit vectors (k, D) with a name each; `weight` says how strong each is (its `measure`), and
    `std` is the spread of the dataset's codes along each (None where no codes were given), for slider ranges."""

    names: list[str]
    vectors: np.ndarray
    weight: np.ndarray
    measure: str
    std: np.ndarray | None


def spread_along(codes: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Standard deviation of the codes (N, D) projected on each unit vector (k, D): a slider's scale."""
    return (np.asarray(codes, dtype=np.float64) @ np.atleast_2d(vectors).T).std(0, ddof=1).astype(np.float32)


def principal_directions(codes: np.ndarray, k: int) -> Directions:
    """The first k principal axes of the codes, with their share of the variance.

    NumPy's thin SVD with projections.pca's sign rule, so PC 1 and 2 are the PCA map's own axes.
    """
    codes = np.asarray(codes, dtype=np.float64)
    n, d = codes.shape
    if n < 2 or not 1 <= k <= d:
        raise ValueError(f"principal directions need at least 2 codes and 1 <= k <= {d}, got {n} codes and k={k}")
    _, singular, vt = np.linalg.svd(codes - codes.mean(0), full_matrices=False)
    variance = singular**2
    return Directions(
        [f"PC {i + 1}" for i in range(k)],
        fix_signs(vt[:k]).astype(np.float32),
        (variance[:k] / variance.sum()).astype(np.float32),
        "share of variance",
        (singular[:k] / np.sqrt(n - 1)).astype(np.float32),
    )


def picked(found: Directions, rows: Sequence[int]) -> Directions:
    """The directions `rows` of `found`, in that order (the traversal grid's chosen rows)."""
    index = np.asarray(rows, dtype=np.int64)
    std = None if found.std is None else found.std[index]
    return Directions([found.names[i] for i in index], found.vectors[index], found.weight[index], found.measure, std)


def units(found: Directions) -> np.ndarray:
    """A slider's unit per direction: one standard deviation of the codes along it (1 where there are no codes)."""
    std = np.ones(len(found.names)) if found.std is None else found.std
    return np.maximum(std, 1e-3).astype(np.float64)


def code_at(base: np.ndarray, found: Directions, steps: np.ndarray) -> np.ndarray:
    """The code the sliders give: base + sum over directions of step * unit * direction (all steps 0: the base)."""
    move = (np.asarray(steps, np.float64) * units(found)) @ found.vectors.astype(np.float64)
    return (np.asarray(base, np.float64) + move).astype(np.float32)


def steps_of(base: np.ndarray, found: Directions, code: np.ndarray) -> np.ndarray:
    """The sliders' steps that give `code` from `base` (code_at's inverse for codes that differ from base along the
    directions only): the difference projected on each unit direction, in units."""
    difference = np.asarray(code, np.float64) - np.asarray(base, np.float64)
    return difference @ found.vectors.astype(np.float64).T / units(found)


def first_latent_layer(model: LatentModel) -> nn.Linear:
    """The first nn.Linear that takes z itself (in_features == latent_dim): the layer SeFa factorises. The decoder's
    is looked for first, then the whole model's (an own model's may be named `decoder_input`, or sit anywhere)."""
    decoder = model.decoder
    for module in (*(decoder.modules() if isinstance(decoder, nn.Module) else ()), *model.modules()):
        if isinstance(module, nn.Linear) and module.in_features == model.latent_dim:
            return module
    raise ValueError(
        f"{type(model).__name__} has no linear layer taking the {model.latent_dim}-d code, "
        "so it has no closed-form (SeFa) directions"
    )


def sefa_directions(model: LatentModel, k: int, codes: np.ndarray | None = None) -> Directions:
    """The top-k eigenvectors of W^T W for the decoder's first linear layer W (SeFa, Shen & Zhou 2021).

    For unit n, |W (z + n) - W z|^2 = n^T W^T W n: the eigenvectors are the unit moves of z that change the
    layer's output most, and the weights alone give them, no data needed. `weight` is each eigenvalue's share
    of their sum. Unlike GANSpace's PCA they follow the decoder, not the data: a dimension the encoder never
    uses can still rank high. Pass the dataset's `codes` to get `std` for slider ranges.
    """
    d = model.latent_dim
    if not 1 <= k <= d:
        raise ValueError(f"k must be from 1 to {d}, not {k}")
    weight = first_latent_layer(model).weight.detach().cpu().double().numpy()  # (out, latent_dim)
    eigenvalues, eigenvectors = np.linalg.eigh(weight.T @ weight)  # ascending
    top = np.argsort(-eigenvalues, kind="stable")[:k]
    vectors = fix_signs(eigenvectors[:, top].T).astype(np.float32)
    return Directions(
        [f"SeFa {i + 1}" for i in range(k)],
        vectors,
        (eigenvalues[top] / eigenvalues.sum()).astype(np.float32),
        "share of eigenvalues",
        None if codes is None else spread_along(codes, vectors),
    )


@dataclass(frozen=True)
class Attribute:
    """mean(B) - mean(A) as a unit `direction` (D,) and its `norm`: adding `norm * direction` to a code of A's
    mean lands on B's mean. `std` is the spread of both groups' codes along it."""

    name: str
    direction: np.ndarray
    norm: float
    std: float

    def as_directions(self) -> Directions:
        return Directions(
            [self.name],
            self.direction[None, :],
            np.array([self.norm], np.float32),
            "distance",
            np.array([self.std], np.float32),
        )


def attribute_vector(codes_a: np.ndarray, codes_b: np.ndarray, name: str = "A → B") -> Attribute:
    """The attribute vector from group A to group B: the difference of their mean codes.

    Raises ValueError, naming the empty side, when a group has no codes, and when the two means coincide
    (no direction to follow).
    """
    a, b = np.atleast_2d(np.asarray(codes_a, np.float64)), np.atleast_2d(np.asarray(codes_b, np.float64))
    empty = [side for side, group in (("A", a), ("B", b)) if group.size == 0]
    if empty:
        raise ValueError(
            f"Selection {' and '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty: "
            "an attribute vector needs codes on both sides"
        )
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"A's codes are {a.shape[1]}-d and B's {b.shape[1]}-d: they come from different models")
    difference = b.mean(0) - a.mean(0)
    norm = float(np.linalg.norm(difference))
    if norm < 1e-8:
        raise ValueError("A and B have the same mean code: there is no direction between them")
    unit = (difference / norm).astype(np.float32)
    return Attribute(name, unit, norm, float(spread_along(np.concatenate([a, b]), unit)[0]))


def between_classes(codes: np.ndarray, labels: np.ndarray, a: int, b: int, names: list[str]) -> Attribute:
    """The attribute vector from the codes labelled `a` to those labelled `b`, named by the classes ("1 to 7": the
    walk grid's font has no arrow).

    Raises ValueError when a and b are one class (no direction) or a class has no codes.
    """
    if a == b:
        raise ValueError(f"Pick two different classes: {names[a]} to {names[b]} goes nowhere")
    labels = np.asarray(labels)
    return attribute_vector(codes[labels == a], codes[labels == b], f"{names[a]} to {names[b]}")


def walk_values(std: float, steps: int, extent: float = WALK_EXTENT) -> np.ndarray:
    """The steps t of a walk: `steps` values from -extent * std to +extent * std."""
    if steps < 2:
        raise ValueError(f"a walk needs at least 2 steps, not {steps}")
    return np.linspace(-extent * std, extent * std, steps, dtype=np.float32)


def walk(model: LatentModel, base: np.ndarray, direction: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Decode base + t * direction for each t of `values`: (len(values), 28, 28) in [0, 1].

    One value is one slider position: a page moving a slider decodes a walk of one step.
    """
    base, direction = np.asarray(base, np.float32), np.asarray(direction, np.float32)
    if base.shape != (model.latent_dim,) or direction.shape != base.shape:
        raise ValueError(
            f"base and direction must be {model.latent_dim}-d codes, got {base.shape} and {direction.shape}"
        )
    return decode(model, base + np.asarray(values, np.float32).reshape(-1, 1) * direction)


def walk_grid(
    model: LatentModel, base: np.ndarray, directions: Directions, steps: int, scale: int, extent: float = WALK_EXTENT
) -> np.ndarray:
    """The traversal-grid figure of `directions` around `base`: a labelled row per direction, each spanning
    +- extent std (1 where `directions.std` is None), under each picture its step in std ('+1.5 sd'): the
    Directions page's sliders' unit, so a row's labels read the same whatever the direction's spread."""
    std = np.ones(len(directions.names)) if directions.std is None else directions.std
    values = [walk_values(s, steps, extent) for s in std]
    tiles = np.stack([walk(model, base, v, t) for v, t in zip(directions.vectors, values)])
    in_sd = [f"{t:+.1f} sd" for t in walk_values(1.0, steps, extent)]
    return render.labelled_grid(tiles, directions.names, [in_sd] * len(values), scale)


def walk_gif(frames: np.ndarray, scale: int, duration_ms: int = 150) -> bytes:
    """A walk's frames enlarged and played forwards then back, as a looping GIF."""
    enlarged = [render.enlarge(f, scale) for f in frames]
    return render.to_gif(enlarged + enlarged[-2:0:-1], duration_ms=duration_ms)
