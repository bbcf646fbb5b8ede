"""Semantic directions on the starter checkpoints' codes of real MNIST test images."""

import numpy as np
import pytest
from torch import nn

from aelab.explore import directions, encoding, projections
from aelab.explore.neighbours import nearest
from aelab.images import render
from aelab.models.autoencoders import build_model
from aelab.models.config import ModelConfig
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint

MODELS = ("vae", "conv_vae", "conv_ae")


@pytest.fixture(scope="module")
def starters(mnist_test):
    """Each starter model with the codes of the first 2,000 test images."""
    found = {}
    for name in MODELS:
        model = load_checkpoint(SHIPPED_DIR / f"{name}.safetensors").model
        found[name] = model, encoding.encode_all(model, mnist_test.images[:2000]).mu
    return found


def test_principal_directions_are_the_pca_maps_axes_with_their_variance(starters):
    _, codes = starters["vae"]
    found = directions.principal_directions(codes, 5)
    assert found.names[0] == "PC 1" and found.vectors.shape == (5, codes.shape[1])
    np.testing.assert_allclose(found.vectors[:2], projections.pca(codes).components, atol=1e-5)
    np.testing.assert_allclose(found.vectors @ found.vectors.T, np.eye(5), atol=1e-5)
    assert np.all(np.diff(found.weight) <= 0) and 0 < found.weight.sum() < 1
    np.testing.assert_allclose(found.std, directions.spread_along(codes, found.vectors), rtol=1e-4)
    with pytest.raises(ValueError, match="k"):
        directions.principal_directions(codes, codes.shape[1] + 1)


@pytest.mark.parametrize("name", MODELS)
def test_sefas_top_direction_changes_the_picture_more_than_random_directions(starters, name):
    model, codes = starters[name]
    found = directions.sefa_directions(model, 3, codes)
    assert found.vectors.shape == (3, model.latent_dim) and np.all(np.diff(found.weight) <= 0)
    np.testing.assert_allclose(np.linalg.norm(found.vectors, axis=1), 1, atol=1e-5)
    assert np.all(found.std > 0)

    def change(direction: np.ndarray) -> float:  # mean pixel change over 20 bases, a step of -2 to +2
        return float(
            np.mean(
                [
                    np.abs(np.subtract(*directions.walk(model, base, direction, np.array([2.0, -2.0])))).mean()
                    for base in codes[:20]
                ]
            )
        )

    rng = np.random.default_rng(0)
    randoms = [change(v / np.linalg.norm(v)) for v in rng.standard_normal((10, model.latent_dim)).astype(np.float32)]
    assert change(found.vectors[0]) > 1.3 * np.mean(randoms)


def test_sefa_uses_the_layer_taking_the_code_and_says_when_there_is_none():
    model = build_model(ModelConfig.for_model("conv_vae"))
    assert directions.first_latent_layer(model) is model.decoder[0][0]  # the hidden layer's Linear(20, 256)
    model.decoder = nn.Sequential(nn.Unflatten(1, (model.latent_dim, 1, 1)), nn.ConvTranspose2d(20, 1, 28))
    with pytest.raises(ValueError, match="no linear layer taking the 20-d code"):
        directions.sefa_directions(model, 3)


def test_the_attribute_vector_from_ones_to_zeros_turns_a_one_into_a_zero(starters, mnist_test):
    model, codes = starters["conv_vae"]
    labels = mnist_test.labels[:2000].numpy()
    reference, held_out = slice(0, 1500), slice(1500, 2000)  # the vector from one part, tried on the other
    ones, zeros = codes[reference][labels[reference] == 1], codes[reference][labels[reference] == 0]
    attribute = directions.attribute_vector(ones, zeros, "1 → 0")
    assert attribute.norm > 0 and np.isclose(np.linalg.norm(attribute.direction), 1, atol=1e-5)
    np.testing.assert_allclose(ones.mean(0) + attribute.norm * attribute.direction, zeros.mean(0), atol=1e-4)

    def zero_votes(code: np.ndarray) -> float:
        return float((labels[reference][nearest(codes[reference], code, 10).index] == 0).mean())

    held_ones = codes[held_out][labels[held_out] == 1]
    before = np.mean([zero_votes(c) for c in held_ones])
    after = np.mean([zero_votes(c + attribute.norm * attribute.direction) for c in held_ones])
    random = np.random.default_rng(0).standard_normal(codes.shape[1]).astype(np.float32)
    elsewhere = np.mean([zero_votes(c + attribute.norm * random / np.linalg.norm(random)) for c in held_ones])
    assert before < 0.05 and after > 0.8 and elsewhere < 0.3  # as far in another direction: not a "0"


def test_an_attribute_vector_names_the_empty_side_and_refuses_equal_means(starters):
    _, codes = starters["vae"]
    with pytest.raises(ValueError, match="Selection B is empty"):
        directions.attribute_vector(codes[:10], codes[:0])
    with pytest.raises(ValueError, match="Selection A and B are empty"):
        directions.attribute_vector([], [])
    with pytest.raises(ValueError, match="same mean"):
        directions.attribute_vector(codes[:10], codes[:10][::-1])


def test_a_walk_decodes_the_path_and_its_grid_and_gif_show_it(starters):
    model, codes = starters["vae"]
    found = directions.principal_directions(codes, 2)
    values = directions.walk_values(float(found.std[0]), 5)
    assert values[0] == -values[-1] and values[2] == 0
    frames = directions.walk(model, codes[0], found.vectors[0], values)
    assert frames.shape == (5, 28, 28) and frames.min() >= 0 and frames.max() <= 1
    # t = 0 is the base itself; decoded in a batch of 5 against a batch of 1, which other float32 kernels may sum
    # in another order on another CPU: 1e-5 holds on any, and is far below one grey level (1/255)
    np.testing.assert_allclose(frames[2], encoding.decode(model, codes[0])[0], atol=1e-5)
    assert np.abs(frames[0] - frames[-1]).mean() > 0.02
    grid = directions.walk_grid(model, codes[0], found, 5, scale=2)
    assert grid.ndim == 2 and grid.shape[0] > 2 * 2 * 28 and grid.shape[1] > 5 * 2 * 28
    gif = directions.walk_gif(frames, scale=4)
    assert gif[:6] == b"GIF89a" and len(render.to_png(grid)) > 1000
    with pytest.raises(ValueError, match="20-d"):
        directions.walk(model, codes[0][:5], found.vectors[0], values)


def test_between_classes_is_the_attribute_vector_of_their_codes(starters, mnist_test):
    _, codes = starters["vae"]
    labels = mnist_test.labels[:2000].numpy()
    names = [str(d) for d in range(10)]
    found = directions.between_classes(codes, labels, 1, 7, names)
    expected = directions.attribute_vector(codes[labels == 1], codes[labels == 7])
    assert found.name == "1 to 7"
    np.testing.assert_allclose(found.direction, expected.direction, atol=1e-6)
    assert found.norm == pytest.approx(expected.norm)
    with pytest.raises(ValueError, match="two different classes"):
        directions.between_classes(codes, labels, 3, 3, names)
    with pytest.raises(ValueError, match="B is empty"):
        directions.between_classes(codes[labels != 7], labels[labels != 7], 1, 7, names)
