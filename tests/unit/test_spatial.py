"""Traverse on spatial codes (aelab.explore.spatial): the principal directions' sliders and the code's channels, on
the conv bottleneck of tests/convention_models.py (codes 8x4x4) trained and imported."""

from __future__ import annotations

import numpy as np
import pytest

from aelab.explore import directions, encoding, spatial
from aelab.models.config import allowing
from aelab.store.checkpoints import load_checkpoint


@pytest.fixture(scope="module")
def spatial_model(spatial_runs):
    with allowing("convention_models:spatial"):
        return load_checkpoint(spatial_runs / "spatial.safetensors").model


@pytest.fixture(scope="module")
def spatial_codes(spatial_model, mnist_test):
    return encoding.encode_all(spatial_model, mnist_test.images[:2000]).mu


def test_only_codes_with_spatial_extent_are_spatial(spatial_model):
    assert spatial.spatial_shape(spatial_model.config.code_shape) == (8, 4, 4)
    assert spatial.spatial_shape(()) is None  # a flat code: a slider per dimension, as ever
    assert spatial.spatial_shape((16, 1, 1)) is None  # a 1x1 map is a vector
    assert spatial.spatial_shape((2, 14, 14)) == (2, 14, 14)


def test_the_sliders_are_the_codes_principal_directions(spatial_codes):
    found = spatial.principal_sliders(spatial_codes)
    assert found.names == [f"PC {i}" for i in range(1, spatial.TOP_COMPONENTS + 1)]
    assert found.vectors.shape == (spatial.TOP_COMPONENTS, 128)
    # GANSpace's own directions, not a second PCA
    same = directions.principal_directions(spatial_codes, spatial.TOP_COMPONENTS)
    np.testing.assert_array_equal(found.vectors, same.vectors)
    assert np.all(np.diff(found.weight) <= 0) and 0 < found.weight.sum() <= 1
    # each slider's unit is the spread of the codes along its direction (float32 codes: 1e-4 relative on any CPU)
    spread = directions.spread_along(spatial_codes, found.vectors)
    np.testing.assert_allclose(directions.units(found), spread, rtol=1e-4)


def test_the_sliders_values_map_back_to_codes_exactly(spatial_codes):
    found = spatial.principal_sliders(spatial_codes)
    base = spatial_codes[3]
    np.testing.assert_array_equal(directions.code_at(base, found, np.zeros(len(found.names))), base)
    steps = np.linspace(-3, 3, len(found.names))
    code = directions.code_at(base, found, steps)
    # float64 arithmetic, a float32 code between: 1e-5 on values of a few units holds on any CPU
    np.testing.assert_allclose(directions.steps_of(base, found, code), steps, atol=1e-5)
    moved = (code.astype(np.float64) - base) @ found.vectors.T.astype(np.float64)
    np.testing.assert_allclose(moved, steps * directions.units(found), rtol=1e-5, atol=1e-6)


def test_walking_pc_1_changes_the_decode(spatial_model, spatial_codes):
    found = spatial.principal_sliders(spatial_codes)
    base = spatial_codes[0]
    steps = np.zeros(len(found.names))
    steps[0] = 2.0
    before, after = encoding.decode(spatial_model, np.stack([base, directions.code_at(base, found, steps)]))
    assert np.abs(after - before).mean() > 0.01  # two standard deviations along PC 1 redraw the digit
    # and the walk grid's rows are those directions, decoded through the spatial shape
    grid = directions.walk_grid(spatial_model, base, directions.picked(found, [0, 2]), 5, 1)
    assert grid.ndim == 2 and grid.shape[1] > 5 * 28


def test_the_channel_pictures_have_the_codes_shape_and_one_scale(spatial_codes):
    shape = spatial.spatial_shape((8, 4, 4))
    assert shape is not None
    code = spatial_codes[5] * 3  # beyond the data's range: the scale widens to hold it
    scale = spatial.colour_range(spatial_codes).holding(code)
    assert scale.low <= code.min() and scale.high >= code.max()
    assert scale.low <= np.percentile(spatial_codes, 1) and scale.high >= np.percentile(spatial_codes, 99)
    pictures = spatial.channel_pictures(code, shape, scale)
    assert pictures.shape == (8, 4, 4) and pictures.min() >= 0 and pictures.max() <= 1
    # the same value is the same gray on every channel, and channel c is the code's numbers 16c to 16c + 15
    expected = (code.reshape(8, 4, 4).astype(np.float64) - scale.low) / (scale.high - scale.low)
    np.testing.assert_allclose(pictures, expected, atol=1e-6)
    assert spatial.channel_enlargement(shape) * 4 <= spatial.CHANNEL_PX
