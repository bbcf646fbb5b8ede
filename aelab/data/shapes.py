"""Shapes: a procedural dataset of coloured shapes whose generating factors are known.

In the spirit of dSprites and 3D Shapes, but made here, so it needs no download and is the same
for the same seed on every machine. One shape on a black canvas, set by six discrete factors
(`FACTORS`): shape, colour, scale, rotation and x, y position. Known factors are what let aelab
colour a map by factor and score disentanglement (aelab.explore.disentangle).

A `Recipe` says which factors a dataset varies: `SHAPES_RECIPE` (all six, coloured) or `DSPRITES`, the dSprites
recipe (Matthey et al. 2017: square, ellipse and heart, white on black, varying in scale, rotation and x, y
position; five factors, no colour), drawn by the same sprites at any side, so both share one renderer.

Rotation steps divide each shape's symmetry period (a square looks the same after 90 degrees, an
ellipse after 180, a triangle after 120, the heart only after 360), so every rotation value draws
a different picture and the factor can be recovered from pixels; the angle of a rotation value
therefore depends on the shape. Positions keep the largest shape, at any rotation, a pixel clear of
the canvas border.

Speed: each (shape, scale, rotation) is drawn once per side, SUPERSAMPLE times larger with
scikit-image and block-averaged back down (anti-aliased edges), and shapes are centred on whole
pixels, so an image is that sprite copied to its place and coloured: tens of thousands of images
per second. At side 28 the eight positions are then one or two pixels apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class Factor:
    """One generating factor: its name and the labels of its values (value i is labels[i])."""

    name: str
    labels: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.labels)


SHAPES = ("square", "ellipse", "triangle", "heart")
SYMMETRY_DEGREES = (90.0, 180.0, 120.0, 360.0)  # per shape, in SHAPES order: the turn that leaves it unchanged
COLOURS = ("red", "yellow", "green", "cyan", "blue", "magenta")
# RGB of COLOURS: six hues 60 degrees apart at saturation 0.75, so blue stays visible on black.
PALETTE = np.array(
    [[1, 0.25, 0.25], [1, 1, 0.25], [0.25, 1, 0.25], [0.25, 1, 1], [0.25, 0.25, 1], [1, 0.25, 1]], np.float32
)
SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # of MAX_RADIUS
ROTATIONS = 10  # steps over each shape's symmetry period
POSITIONS = 8  # values of x and of y
MAX_RADIUS = 0.25  # of the side: how far the largest shape reaches from its centre, at any rotation
ELLIPSE_MINOR = 0.6  # the ellipse's short half-axis, its long one being the radius

FACTORS = (
    Factor("shape", SHAPES),
    Factor("colour", COLOURS),
    Factor("scale", tuple(f"{s:.1f}" for s in SCALES)),
    Factor("rotation", tuple(f"{i}/{ROTATIONS}" for i in range(ROTATIONS))),  # of the shape's symmetry period
    Factor("x", tuple(str(i) for i in range(POSITIONS))),
    Factor("y", tuple(str(i) for i in range(POSITIONS))),
)
FACTOR_NAMES = tuple(f.name for f in FACTORS)
FACTOR_SIZES = tuple(f.size for f in FACTORS)
COMBINATIONS = int(np.prod(FACTOR_SIZES))  # distinct images: the most one seed's train and test hold together


@dataclass(frozen=True)
class Recipe:
    """Which factors a dataset of shapes varies: FACTORS or some of them (never without shape, scale, rotation,
    x and y), its shape factor naming the SHAPES it draws; without a colour factor a shape is white on black."""

    name: str
    factors: tuple[Factor, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(f.size for f in self.factors)

    @property
    def combinations(self) -> int:
        """Distinct images: the most one seed's train and test hold together."""
        return int(np.prod(self.sizes))

    @property
    def shapes(self) -> np.ndarray:
        """Each value of the shape factor as its index into SHAPES (which sprite it draws)."""
        return np.array([SHAPES.index(label) for label in self.factors[self.names.index("shape")].labels])


SHAPES_RECIPE = Recipe("shapes", FACTORS)
DSPRITES_SHAPES = ("square", "ellipse", "heart")  # dSprites' three
# dSprites' five factors: its shapes, then FACTORS' scale, rotation, x and y (no colour).
DSPRITES = Recipe("dsprites", (Factor("shape", DSPRITES_SHAPES), *FACTORS[2:]))
SIDES = (28, 32, 64)
CHANNELS = (1, 3)
SUPERSAMPLE = 4  # drawn this many times larger per side, then block-averaged: 16 samples per pixel
_CHUNK = 1024  # images placed at once: bounds the memory of the intermediate coverage


def _unit_outlines() -> dict[str, np.ndarray]:
    """Polygon vertices (x right, y up) of the shapes drawn as polygons, centred, farthest vertex at 1."""
    square = np.deg2rad(45 + 90 * np.arange(4))
    triangle = np.deg2rad(90 + 120 * np.arange(3))
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    heart = np.stack([16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)], 1)
    heart -= (heart.max(0) + heart.min(0)) / 2
    heart /= np.linalg.norm(heart, axis=1).max()
    return {
        "square": np.stack([np.cos(square), np.sin(square)], 1),
        "triangle": np.stack([np.cos(triangle), np.sin(triangle)], 1),
        "heart": heart,
    }


_OUTLINES = _unit_outlines()


def _whole(n: object) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, bool)


def _check(side: int, channels: int) -> None:
    if not _whole(side) or side not in SIDES:
        raise ValueError(f"Shapes are drawn at sides {', '.join(map(str, SIDES))}, not {side}")
    if not _whole(channels) or channels not in CHANNELS:
        raise ValueError(f"Shapes have 1 (gray) or 3 (RGB) channels, not {channels}")


def check_factors(factors: np.ndarray, recipe: Recipe = SHAPES_RECIPE) -> np.ndarray:
    """`factors` as an (N, len(recipe.factors)) int64 array, each column within its factor's values; else
    ValueError."""
    factors, k = np.asarray(factors), len(recipe.factors)
    if factors.ndim != 2 or factors.shape[1] != k or not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(
            f"{recipe.name} factors must be an (N, {k}) integer array ({', '.join(recipe.names)}), "
            f"not {factors.dtype} {factors.shape}"
        )
    for j, factor in enumerate(recipe.factors):
        bad = (factors[:, j] < 0) | (factors[:, j] >= factor.size)
        if bad.any():
            raise ValueError(
                f"Factor {factor.name!r} takes values 0 to {factor.size - 1}, not {int(factors[bad, j][0])}"
            )
    return factors.astype(np.int64)


def _reach(side: int) -> int:
    """Whole pixels the largest shape may cover on each side of its centre pixel."""
    return int(np.ceil(MAX_RADIUS * side))


def centres(side: int) -> np.ndarray:
    """The pixel (row for y, column for x) each position value centres a shape on: x left to right, y top
    to bottom, evenly spread (to the nearest pixel) so the largest shape stays a pixel clear of the border."""
    reach = _reach(side)
    return np.round(np.linspace(reach + 1, side - 2 - reach, POSITIONS)).astype(np.int64)


def _draw(shape: int, scale: int, rotation: int, side: int) -> np.ndarray:
    """One shape's coverage of the pixels around its centre pixel: (2 reach + 1) square, drawn SUPERSAMPLE
    times larger (the large pixel i has its centre at (i + 0.5) / SUPERSAMPLE image pixels), then averaged."""
    # scikit-image's modules take a second to import: only code that draws shapes pays for it.
    from skimage.draw import ellipse, polygon
    from skimage.transform import downscale_local_mean

    s, reach = SUPERSAMPLE, _reach(side)
    canvas = np.zeros(((2 * reach + 1) * s,) * 2, np.float32)
    centre = (reach + 0.5) * s - 0.5
    radius = SCALES[scale] * MAX_RADIUS * side * s
    angle = np.deg2rad(rotation * SYMMETRY_DEGREES[shape] / ROTATIONS)
    name = SHAPES[shape]
    if name == "ellipse":
        rr, cc = ellipse(centre, centre, ELLIPSE_MINOR * radius, radius, shape=canvas.shape, rotation=angle)
    else:
        cos, sin = np.cos(angle), np.sin(angle)
        u, v = _OUTLINES[name].T
        rr, cc = polygon(
            centre - radius * (sin * u + cos * v), centre + radius * (cos * u - sin * v), shape=canvas.shape
        )
    canvas[rr, cc] = 1.0
    return downscale_local_mean(canvas, (s, s))


@lru_cache(maxsize=len(SIDES))
def _sprites(side: int) -> np.ndarray:
    """Every (shape, scale, rotation)'s coverage at `side`, indexed so: drawn once per process."""
    sprites = np.stack(
        [
            _draw(shape, scale, rotation, side)
            for shape, scale, rotation in np.ndindex(len(SHAPES), len(SCALES), ROTATIONS)
        ]
    )
    sprites = sprites.reshape(len(SHAPES), len(SCALES), ROTATIONS, *sprites.shape[1:])
    sprites.flags.writeable = False
    return sprites


def render(factors: np.ndarray, side: int = 64, channels: int = 3, recipe: Recipe = SHAPES_RECIPE) -> np.ndarray:
    """The images of `factors` ((N, K) integers, columns as the recipe's factors): float32 (N, channels, side,
    side) in [0, 1], a coloured shape on black; one channel is the colour image's luminance (skimage's
    rgb2gray). A recipe without colour draws its shapes white."""
    _check(side, channels)
    column = dict(zip(recipe.names, check_factors(factors, recipe).T))
    shape = recipe.shapes[column["shape"]]
    scale, rotation, x, y = (column[name] for name in ("scale", "rotation", "x", "y"))
    sprites, pixel, offsets = _sprites(side), centres(side), np.arange(-_reach(side), _reach(side) + 1)
    if "colour" in column:
        from skimage.color import rgb2gray

        palette = rgb2gray(PALETTE)[:, None].astype(np.float32) if channels == 1 else PALETTE
        colour = column["colour"]
    else:
        palette, colour = np.ones((1, channels), np.float32), np.zeros_like(shape)
    images = np.empty((len(shape), channels, side, side), np.float32)
    for start in range(0, len(shape), _CHUNK):
        part = slice(start, start + _CHUNK)
        rows, cols = pixel[y[part]][:, None] + offsets, pixel[x[part]][:, None] + offsets
        coverage = np.zeros((len(rows), side, side), np.float32)
        coverage[np.arange(len(rows))[:, None, None], rows[:, :, None], cols[:, None, :]] = sprites[
            shape[part], scale[part], rotation[part]
        ]
        np.multiply(coverage[:, None], palette[colour[part]][:, :, None, None], out=images[part])
    return images


def _combinations(seed: int, recipe: Recipe) -> np.ndarray:
    """Every factor combination once, in an order set by `seed`: (combinations, K) int64."""
    order = np.random.default_rng(seed).permutation(recipe.combinations)
    return np.stack(np.unravel_index(order, recipe.sizes), 1).astype(np.int64)


def _check_count(n: int, recipe: Recipe) -> None:
    if not _whole(n) or not 0 < n <= recipe.combinations:
        raise ValueError(
            f"The {recipe.name} dataset has {recipe.combinations} distinct images: ask for 1 to "
            f"{recipe.combinations}, not {n}"
        )


def sample_factors(n: int, seed: int, recipe: Recipe = SHAPES_RECIPE) -> np.ndarray:
    """`n` distinct factor combinations drawn uniformly (without replacement, so each factor's values are
    equally likely): (n, K) int64, columns as the recipe's factors. Same seed, same factors, and a larger `n`
    extends them."""
    _check_count(n, recipe)
    return _combinations(seed, recipe)[:n]


def make_shapes(
    n: int, seed: int, side: int = 64, channels: int = 3, recipe: Recipe = SHAPES_RECIPE
) -> tuple[np.ndarray, np.ndarray]:
    """`n` distinct shapes, `sample_factors(n, seed, recipe)` drawn: (images as `render`, factors)."""
    _check(side, channels)
    factors = sample_factors(n, seed, recipe)
    return render(factors, side, channels, recipe), factors


def shapes_split(
    split: str,
    n_train: int,
    n_test: int,
    seed: int = 0,
    side: int = 64,
    channels: int = 3,
    recipe: Recipe = SHAPES_RECIPE,
) -> tuple[np.ndarray, np.ndarray]:
    """A train or test split: train is the first `n_train` of the seed's order of all combinations (the
    shapes `make_shapes` gives), test the last `n_test` of it, so the two never share an image and each split
    stays the same whatever size the other is given."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    _check(side, channels)
    _check_count(n_train, recipe)
    _check_count(n_test, recipe)
    total = recipe.combinations
    if n_train + n_test > total:
        raise ValueError(f"Train and test together may hold {total} {recipe.name}, not {n_train} + {n_test}")
    factors = _combinations(seed, recipe)
    factors = factors[:n_train] if split == "train" else factors[total - n_test :]
    return render(factors, side, channels, recipe), factors
