"""The procedural shapes dataset: deterministic, each factor visible in the pixels, inside the canvas."""

from __future__ import annotations

import re

import numpy as np
import pytest
from skimage.color import rgb2gray
from skimage.measure import regionprops

from aelab.data.registry import DSPRITES_SPLIT, dataset_shape, factor_names, load_dataset
from aelab.data.shapes import (
    CHANNELS,
    COLOURS,
    COMBINATIONS,
    DSPRITES,
    FACTOR_NAMES,
    FACTORS,
    POSITIONS,
    ROTATIONS,
    SCALES,
    SHAPES,
    SIDES,
    make_shapes,
    render,
    sample_factors,
    shapes_split,
)

SHAPE, COLOUR, SCALE, ROTATION, X, Y = range(len(FACTORS))


def vary(base: list[int], factor: int) -> np.ndarray:
    """`base` once per value of `factor`, the other factors fixed."""
    rows = np.repeat([base], FACTORS[factor].size, axis=0)
    rows[:, factor] = np.arange(FACTORS[factor].size)
    return rows


def coverage(images: np.ndarray) -> np.ndarray:
    """Per image, how much of each pixel the shape covers (its colour divided out)."""
    return images.max(1) / images.max((1, 2, 3))[:, None, None]


def test_factors_are_named_once_in_order() -> None:
    assert FACTOR_NAMES == ("shape", "colour", "scale", "rotation", "x", "y")
    assert [f.size for f in FACTORS] == [len(SHAPES), len(COLOURS), len(SCALES), ROTATIONS, POSITIONS, POSITIONS]
    assert COMBINATIONS == np.prod([f.size for f in FACTORS])


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("channels", CHANNELS)
def test_images_are_float_in_unit_range_at_every_side(side: int, channels: int) -> None:
    images, factors = make_shapes(50, seed=0, side=side, channels=channels)
    assert images.shape == (50, channels, side, side) and images.dtype == np.float32
    assert factors.shape == (50, len(FACTORS)) and factors.dtype == np.int64
    assert images.min() == 0.0 and images.max() <= 1.0
    assert (images.reshape(50, -1).max(1) > 0.25).all()  # every image shows its shape (blue's gray is 0.30)


def test_same_seed_same_images_other_seed_other_images() -> None:
    a, fa = make_shapes(300, seed=7, side=32)
    b, fb = make_shapes(300, seed=7, side=32)
    c, fc = make_shapes(300, seed=8, side=32)
    assert np.array_equal(a, b) and np.array_equal(fa, fb)
    assert not np.array_equal(fa, fc)
    assert (np.abs(a - c).reshape(300, -1).max(1) > 0).mean() > 0.95


def test_factor_values_are_uniform_without_repeats() -> None:
    factors = sample_factors(12_000, seed=1)
    assert len(np.unique(factors, axis=0)) == len(factors)  # drawn without replacement
    assert np.array_equal(sample_factors(100, seed=1), factors[:100])
    assert np.array_equal(make_shapes(100, seed=1, side=28)[1], factors[:100])
    for j, factor in enumerate(FACTORS):
        counts = np.bincount(factors[:, j], minlength=factor.size)
        expected = len(factors) / factor.size
        assert np.abs(counts - expected).max() < 0.1 * expected, factor.name


@pytest.mark.parametrize("side", SIDES)
def test_every_value_of_every_factor_changes_the_image(side: int) -> None:
    for shape in range(len(SHAPES)):  # rotation steps divide each shape's own symmetry period
        base = [shape, 2, 3, 1, 3, 4]
        for j in range(len(FACTORS)):
            flat = render(vary(base, j), side).reshape(FACTORS[j].size, -1)
            distances = np.abs(flat[:, None] - flat[None]).max(2)
            assert (distances + np.eye(len(flat)) > 0.05).all(), (SHAPES[shape], FACTOR_NAMES[j])


def test_pixel_mass_grows_with_scale_as_its_square() -> None:
    for shape in range(len(SHAPES)):
        mass = coverage(render(vary([shape, 0, 0, 2, 4, 4], SCALE), 64)).sum((1, 2))
        assert (np.diff(mass) > 0).all(), SHAPES[shape]
        assert mass[-1] / mass[0] == pytest.approx((SCALES[-1] / SCALES[0]) ** 2, rel=0.08)


@pytest.mark.parametrize("side", SIDES)
def test_x_moves_the_centre_of_mass_right_and_y_down(side: int) -> None:
    rows, cols = np.mgrid[:side, :side]
    for shape in range(len(SHAPES)):
        for factor, moving, still in ((X, cols, rows), (Y, rows, cols)):
            mass = coverage(render(vary([shape, 1, 5, 3, 4, 4], factor), side))
            along = (mass * moving).sum((1, 2)) / mass.sum((1, 2))
            across = (mass * still).sum((1, 2)) / mass.sum((1, 2))
            assert (np.diff(along) >= 1).all(), (SHAPES[shape], FACTOR_NAMES[factor])
            assert np.ptp(across) < 1e-3


@pytest.mark.parametrize("side", SIDES)
def test_the_largest_shapes_stay_a_pixel_inside_the_canvas(side: int) -> None:
    corners = [
        [s, 0, len(SCALES) - 1, r, x, y]
        for s in range(len(SHAPES))
        for r in range(ROTATIONS)
        for x in (0, POSITIONS - 1)
        for y in (0, POSITIONS - 1)
    ]
    images = render(np.array(corners), side, channels=1)[:, 0]
    ring = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], 1)
    assert ring.max() == 0.0
    inner = np.concatenate([images[:, 1], images[:, -2], images[:, :, 1], images[:, :, -2]], 1)
    assert inner.max() > 0  # and the range is used: the far positions come close to the border


def test_shapes_are_what_they_are_called() -> None:
    """Upright and at the largest scale: how much of its bounding box each shape fills, and which way the
    ellipse is long."""
    images = coverage(render(np.array([[s, 0, len(SCALES) - 1, 0, 4, 4] for s in range(len(SHAPES))]), 64))
    props = [regionprops((image > 0.5).astype(int))[0] for image in images]
    extent = dict(zip(SHAPES, (p.extent for p in props)))
    assert extent["square"] > 0.9
    assert extent["ellipse"] == pytest.approx(np.pi / 4, abs=0.05)
    assert extent["triangle"] == pytest.approx(0.5, abs=0.06)
    assert 0.55 < extent["heart"] < 0.8
    height, width = np.ptp(props[SHAPES.index("ellipse")].coords, 0)
    assert width > 1.4 * height
    quarter = coverage(render(np.array([[SHAPES.index("ellipse"), 0, 5, ROTATIONS // 2, 4, 4]]), 64))[0]
    height, width = np.ptp(regionprops((quarter > 0.5).astype(int))[0].coords, 0)
    assert height > 1.4 * width  # half of its 180-degree symmetry period: standing up


def test_edges_are_anti_aliased() -> None:
    image = coverage(render(np.array([[SHAPES.index("triangle"), 0, 5, 1, 4, 4]]), 64))[0]
    partial = (image > 0) & (image < 1)
    assert partial.sum() > 30 and len(np.unique(image)) > 10


def test_colours_are_distinct_and_gray_is_their_luminance() -> None:
    factors = vary([0, 0, 5, 0, 4, 4], COLOUR)
    rgb, gray = render(factors, 32, channels=3), render(factors, 32, channels=1)
    assert np.allclose(gray[:, 0], rgb2gray(rgb.transpose(0, 2, 3, 1)), atol=1e-6)
    centre = rgb[:, :, 16, 16]
    assert np.abs(centre[:, None] - centre[None]).max(2)[np.triu_indices(len(COLOURS), 1)].min() >= 0.7
    assert np.diff(np.sort(gray[:, 0, 16, 16])).min() > 0.05  # the gray version still tells colours apart
    _, mixed = make_shapes(500, seed=2, side=28)
    assert np.allclose(
        render(mixed, 28, channels=1)[:, 0], rgb2gray(render(mixed, 28).transpose(0, 2, 3, 1)), atol=1e-6
    )


def test_splits_are_disjoint_and_each_ignores_the_others_size() -> None:
    train, f_train = shapes_split("train", 400, 200, seed=5, side=28, channels=1)
    test, f_test = shapes_split("test", 400, 200, seed=5, side=28, channels=1)
    assert len(train) == 400 and len(test) == 200
    shared = {tuple(r) for r in f_train} & {tuple(r) for r in f_test}
    assert not shared
    assert np.array_equal(shapes_split("train", 400, 900, seed=5, side=28, channels=1)[1], f_train)
    assert np.array_equal(shapes_split("test", 50, 200, seed=5, side=28, channels=1)[1], f_test)
    assert np.array_equal(make_shapes(400, seed=5, side=28, channels=1)[0], train)
    assert np.array_equal(render(f_test, 28, channels=1), test)
    big_train, big_test = (
        shapes_split(s, COMBINATIONS // 2, COMBINATIONS // 2, seed=5, side=28, channels=1)[1] for s in ("train", "test")
    )
    assert len(np.unique(np.concatenate([big_train, big_test]), axis=0)) == COMBINATIONS


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: make_shapes(10, 0, side=48), "sides 28, 32, 64"),
        (lambda: make_shapes(10, 0, side=64.0), "not 64.0"),
        (lambda: make_shapes(10, 0, channels=2), "1 (gray) or 3 (RGB)"),
        (lambda: make_shapes(0, 0), "ask for 1 to"),
        (lambda: make_shapes(COMBINATIONS + 1, 0), "ask for 1 to"),
        (lambda: shapes_split("val", 10, 10), "'train' or 'test'"),
        (lambda: shapes_split("train", COMBINATIONS, 1), "together"),
        (lambda: render(np.zeros((3, 5), int)), "(N, 6) integer array"),
        (lambda: render(np.zeros((3, 6))), "(N, 6) integer array"),
        (lambda: render(np.array([[0, 6, 0, 0, 0, 0]])), "'colour' takes values 0 to 5, not 6"),
        (lambda: render(np.array([[0, 0, 0, 0, -1, 0]])), "'x' takes values 0 to 7, not -1"),
    ],
)
def test_bad_requests_get_one_clear_value_error(call, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        call()


def test_the_dsprites_recipe_varies_shape_scale_rotation_and_position_white_on_black() -> None:
    assert DSPRITES.names == ("shape", "scale", "rotation", "x", "y")
    assert DSPRITES.factors[0].labels == ("square", "ellipse", "heart")
    assert DSPRITES.combinations == 3 * len(SCALES) * ROTATIONS * POSITIONS**2
    factors = sample_factors(DSPRITES.combinations, seed=3, recipe=DSPRITES)
    assert len(np.unique(factors, axis=0)) == DSPRITES.combinations  # every combination once
    images = render(factors[:400], side=32, channels=1, recipe=DSPRITES)
    assert images.shape == (400, 1, 32, 32)
    assert images.max() == 1.0 and images.min() == 0.0  # white shapes (fully covered pixels at 1) on black
    # each image is the shapes recipe's sprite of the same shape, scale, rotation and place, drawn white
    as_shapes = np.insert(factors[:400], 1, 0, axis=1)  # colour 0 for the shapes recipe
    as_shapes[:, 0] = np.array([SHAPES.index(s) for s in DSPRITES.factors[0].labels])[factors[:400, 0]]
    red = render(as_shapes, side=32, channels=3)[:, 0]  # red's red channel is 1 where covered
    np.testing.assert_array_equal(images[:, 0], red)


def test_dsprites_is_a_known_dataset_with_its_factors_and_disjoint_splits() -> None:
    train, test = load_dataset("dsprites", "train"), load_dataset("dsprites", "test")
    assert dataset_shape("dsprites") == train.shape == (1, 32, 32)
    assert factor_names("dsprites") == train.factor_names == DSPRITES.names
    assert (len(train), len(test)) == (DSPRITES_SPLIT["train"], DSPRITES_SPLIT["test"])
    seen = {tuple(row) for row in train.factors}
    assert not any(tuple(row) in seen for row in test.factors)
    np.testing.assert_array_equal(train.labels.numpy(), train.factors[:, 0])  # labelled by shape
    assert train.classes == list(DSPRITES.factors[0].labels)
    for k, factor in enumerate(DSPRITES.factors):  # every value of every factor is in the test split
        assert set(test.factors[:, k]) == set(range(factor.size)), factor.name
    np.testing.assert_array_equal(test.images.numpy(), render(test.factors, 32, 1, DSPRITES))
