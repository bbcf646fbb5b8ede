"""Latent neighbours and the map's per-point trust, on the MLP VAE starter's codes of real MNIST test images."""

import numpy as np
import pytest

from aelab.explore import encoding, neighbours, projections
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint


@pytest.fixture(scope="module")
def codes(mnist_test):
    model = load_checkpoint(SHIPPED_DIR / "vae.safetensors").model
    return encoding.encode_all(model, mnist_test.images[:3000]).mu


def test_nearest_agrees_with_scikit_learn_and_leaves_the_point_out(codes):
    from sklearn.neighbors import NearestNeighbors

    found = neighbours.nearest(codes, 7, 10)
    distances, rows = NearestNeighbors(n_neighbors=11).fit(codes).kneighbors(codes[7:8])
    assert 7 not in found.index
    np.testing.assert_array_equal(found.index, rows[0][1:])
    np.testing.assert_allclose(found.distance, distances[0][1:], rtol=1e-4)
    outside = neighbours.nearest(codes, codes[7] + 0.01, 3)  # a code from elsewhere: row 7 is now its nearest
    assert outside.index[0] == 7 and np.all(np.diff(outside.distance) >= 0)


def test_neighbours_in_a_vaes_code_share_the_label(codes, mnist_test):
    labels = mnist_test.labels[:3000].numpy()
    agree = np.mean([labels[neighbours.nearest(codes, i, 10).index] == labels[i] for i in range(200)])
    assert agree > 0.8  # chance is about 0.1


def test_bad_queries_get_one_clear_message(codes):
    with pytest.raises(ValueError, match="row 3000 is not one of the 3,000 codes"):
        neighbours.nearest(codes, 3000)
    with pytest.raises(ValueError, match="20-d"):
        neighbours.nearest(codes, np.zeros(5))
    with pytest.raises(ValueError, match="k must be"):
        neighbours.nearest(codes, 0, 3000)


def test_trust_is_one_where_the_map_keeps_the_neighbours_and_near_chance_where_it_does_not(codes):
    flat = projections.pca(codes)
    planar = flat.inverse(flat.coords)  # codes lying in a plane: their own first two PCs map them exactly
    assert np.all(neighbours.trust(planar, projections.pca(planar).coords, 10) == 1)
    shuffled = flat.coords[np.random.default_rng(0).permutation(len(codes))]
    assert neighbours.trust(codes, shuffled, 10).mean() < 0.01
    kept = neighbours.trust(codes, flat.coords, 10)
    assert kept.shape == (3000,) and 0.01 < kept.mean() < 0.5 and kept.min() >= 0 and kept.max() <= 1


def test_trust_refuses_mismatched_points(codes):
    with pytest.raises(ValueError, match="one row per point"):
        neighbours.trust(codes, np.zeros((10, 2)))


def test_one_points_kept_neighbours_are_its_trust(codes):
    xy = projections.pca(codes).coords
    trust = neighbours.trust(codes, xy, 10)
    rows = [0, 17, 2999, int(np.argmax(trust)), int(np.argmin(trust))]
    assert [neighbours.kept(codes, xy, row, 10) for row in rows] == [round(float(trust[row]) * 10) for row in rows]
