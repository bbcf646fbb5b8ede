"""Latent-space tools on a real (briefly trained) model and the real MNIST test images."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from aelab.explore import encoding, priors, projections, walks
from aelab.models.config import ModelConfig
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint
from aelab.training.config import TrainConfig
from aelab.training.trainer import train


@pytest.fixture(scope="module")
def trained(mnist_train, tmp_path_factory):
    out = tmp_path_factory.mktemp("latent") / "vae.safetensors"
    cfg = TrainConfig(model=ModelConfig.for_model("vae", latent_dim=8), epochs=4, batch_size=64, patience=0)
    return load_checkpoint(train(cfg, mnist_train.subset(range(2000)), out).path).model


@pytest.fixture(scope="module")
def codes(trained, mnist_test):
    return encoding.encode_all(trained, mnist_test.images[:2000])


def test_codes_are_posterior_means_and_decode_to_images(trained, codes, mnist_test):
    assert codes.mu.shape == (2000, 8) and codes.logvar.shape == (2000, 8)
    np.testing.assert_allclose(codes.mu[:5], trained.encode(mnist_test.images[:5]).detach().numpy(), atol=1e-5)
    images = encoding.decode(trained, codes.mu[:3])
    assert images.shape == (3, 28, 28) and images.min() >= 0 and images.max() <= 1


def test_dimension_stats_rank_by_kl_and_take_ranges_from_the_data(codes):
    stats = encoding.dimension_stats(codes)
    assert stats.measure == "KL (nats)"
    assert np.all(np.diff(stats.importance[stats.order]) <= 0)
    assert np.all(stats.low < stats.high)
    inside = (codes.mu >= stats.low) & (codes.mu <= stats.high)
    assert 0.95 < inside.mean() < 0.99  # 1st to 99th percentile per dimension
    assert stats.collapsed.dtype == bool and not stats.collapsed[stats.order[0]]


def test_pca_map_inverts_exactly_within_its_plane(codes):
    proj = projections.pca(codes.mu)
    assert proj.coords.shape == (2000, 2)
    np.testing.assert_allclose(
        projections.pca_transform(proj, proj.inverse(proj.coords[:10])), proj.coords[:10], atol=1e-4
    )
    assert 0 < sum(proj.params["explained_variance_ratio"]) <= 1


def test_pca_gives_scikit_learns_axes_and_coordinates(codes):
    from sklearn.decomposition import PCA

    proj, fitted = projections.pca(codes.mu), PCA(n_components=2).fit(codes.mu)
    np.testing.assert_allclose(proj.components, fitted.components_, atol=1e-5)
    np.testing.assert_allclose(proj.coords, fitted.transform(codes.mu), atol=1e-4)
    np.testing.assert_allclose(proj.params["explained_variance_ratio"], fitted.explained_variance_ratio_, atol=1e-4)


def test_pca_runs_its_svd_on_one_blas_thread(monkeypatch):
    svd, seen = np.linalg.svd, []

    def recorded(*args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
        return svd(*args, **kwargs)

    monkeypatch.setattr(np.linalg, "svd", recorded)
    codes = np.random.default_rng(0).normal(size=(500, 6)) * np.arange(1, 7)
    with threadpool_limits(2, user_api="blas"):
        proj = projections.pca(codes)
    assert seen == [{1}] and proj.coords.shape == (500, 2)


def test_interpolation_hits_both_ends_and_slerp_keeps_the_norm(codes):
    a, b = codes.mu[0], codes.mu[1]
    for method in ("linear", "slerp"):
        path = walks.interpolate(a, b, 7, method)
        np.testing.assert_allclose(path[0], a, atol=1e-5)
        np.testing.assert_allclose(path[-1], b, atol=1e-5)
    u, v = np.ones(8, np.float32), -np.ones(8, np.float32) + np.eye(8, dtype=np.float32)[0] * 2
    mid_lin = np.linalg.norm(walks.interpolate(u, v, 3, "linear")[1])
    mid_slerp = np.linalg.norm(walks.interpolate(u, v, 3, "slerp")[1])
    assert mid_slerp > mid_lin and mid_slerp == pytest.approx(np.linalg.norm(u), rel=1e-4)


def test_prior_is_standard_normal_for_vaes_and_fitted_for_autoencoders(trained, codes):
    p = priors.prior_for(trained, codes)
    np.testing.assert_array_equal(p.mean, 0)
    samples = priors.sample(p, 4000, temperature=0.5, seed=1)
    assert samples.std() == pytest.approx(0.5, rel=0.05)
    assert np.array_equal(samples, priors.sample(p, 4000, temperature=0.5, seed=1))

    class AE:  # the same codes seen as a deterministic autoencoder's
        is_variational, latent_dim = False, 8

    fitted = priors.prior_for(AE(), codes)
    np.testing.assert_allclose(fitted.mean, codes.mu.mean(0), rtol=1e-5)
    drawn = priors.sample(fitted, 20000, seed=2)
    np.testing.assert_allclose(np.cov(drawn, rowvar=False), np.cov(codes.mu, rowvar=False), atol=0.05)


def test_traversal_grid_moves_only_the_chosen_dimension(trained, codes):
    stats = encoding.dimension_stats(codes)
    top, second = (int(d) for d in stats.order[:2])
    grid = walks.traversal_grid(trained, codes.mu[0], [top], stats.low, stats.high, 5)
    assert grid.shape == (5, 28, 28)
    assert np.abs(grid[0] - grid[-1]).mean() > 0.02  # the most informative dimension changes the image
    values = walks.traversal_values(stats.low, stats.high, [top, second], 5)  # the grid's value labels
    assert values.shape == (2, 5)
    np.testing.assert_allclose(
        values[:, [0, -1]], [[stats.low[top], stats.high[top]], [stats.low[second], stats.high[second]]], rtol=1e-6
    )
    z = np.repeat(codes.mu[:1], 5, axis=0)
    z[:, top] = values[0]
    np.testing.assert_allclose(grid, encoding.decode(trained, z), atol=1e-6)


@pytest.mark.parametrize("name", ["vae", "beta_vae", "conv_vae", "conv_ae", "denoising_conv_ae"])
def test_collapsed_dimensions_are_those_the_model_card_does_not_count_active(name, mnist_test):
    """Traverse's sliders and the sidebar's "active units" follow one rule: on every shipped model, the
    dimensions not collapsed are exactly as many as the checkpoint's recorded active units."""
    checkpoint = load_checkpoint(SHIPPED_DIR / f"{name}.safetensors")
    assert checkpoint.meta["dataset"] == "mnist" and checkpoint.meta["metrics"]["images"] == len(mnist_test)
    stats = encoding.dimension_stats(encoding.encode_all(checkpoint.model, mnist_test.images))
    assert int((~stats.collapsed).sum()) == checkpoint.meta["metrics"]["active_units"]


def test_diversity_sees_the_collapse_that_the_nearest_image_misses(mnist_test):
    """At temperature 0.1 the shipped VAE decodes 64 near-copies of one blurry digit: each lies near some
    test image, but they are barely different from each other."""
    model = load_checkpoint(SHIPPED_DIR / "vae.safetensors").model
    prior = priors.prior_for(model, None)
    pixels = mnist_test.images.numpy()[:, 0]
    cold, warm = (encoding.decode(model, priors.sample(prior, 64, t, seed=0)) for t in (0.1, 1.0))
    assert priors.nearest_distances(cold, pixels).mean() < 1.1 * priors.nearest_distances(warm, pixels).mean()
    real = priors.diversity(pixels[:500])
    assert priors.diversity(cold) < 0.25 * priors.diversity(warm)
    assert priors.diversity(cold) < 0.2 * real < 0.7 * real < priors.diversity(warm) < real
    assert priors.diversity(np.stack([cold[0]] * 4)) == 0.0
    assert priors.diversity(np.stack([np.zeros((28, 28)), np.ones((28, 28))])) == pytest.approx(28.0)
    with pytest.raises(ValueError, match="at least two"):
        priors.diversity(cold[:1])


def test_tsne_places_new_points_near_their_neighbours_and_disk_cache_is_reused(codes, settings, tmp_path):
    with settings(cache_dir=tmp_path):
        calls = []

        def compute():
            calls.append(1)
            return projections.tsne(codes.mu, n_points=800, perplexity=20, seed=0)

        proj = projections.cached_projection("k", "tsne", compute)
        again = projections.cached_projection("k", "tsne", compute)
        assert len(calls) == 1 and np.array_equal(proj.coords, again.coords) and np.array_equal(proj.index, again.index)
        assert proj.params["gradient"] == "bh"  # below projections.FFT_POINTS, Barnes-Hut
        place = projections.tsne_placer(again, codes.mu)
        mapped = codes.mu[proj.index[:20]]
        placed = place(mapped)
        dist = np.linalg.norm(placed - proj.coords[:20], axis=1)
        spread = np.linalg.norm(proj.coords - proj.coords.mean(0), axis=1).mean()
        assert np.median(dist) < 0.2 * spread  # a mapped point lands where it already is


def test_damaged_cache_entry_is_recomputed(codes, settings, tmp_path):
    with settings(cache_dir=tmp_path):
        encoding.cached_codes("c", lambda: codes)
        (tmp_path / "codes-c.npz").write_bytes(b"garbage")
        again = encoding.cached_codes("c", lambda: codes)
        np.testing.assert_array_equal(again.mu, codes.mu)


def test_nearest_distances_measure_pixels():
    ref = np.zeros((3, 28, 28), np.float32)
    ref[1, 0, 0], ref[2] = 1.0, 0.5
    queries = np.stack([ref[1], ref[2] + 0.1])
    np.testing.assert_allclose(priors.nearest_distances(queries, ref), [0.0, np.sqrt(784 * 0.01)], rtol=1e-5)
    np.testing.assert_allclose(priors.nearest_distances(ref[:2], ref, skip=np.array([0, 1])), [1.0, 1.0])
    np.testing.assert_allclose(walks.distances_from_data(queries, ref), priors.nearest_distances(queries, ref))


def test_the_decoded_plane_tiles_the_decodes_of_a_pca_maps_grid(trained, codes):
    projection = projections.pca(codes.mu)
    picture, (x0, x1, y0, y1) = projections.decoded_plane(trained, projection, n=5)
    assert picture.shape == (5 * 28, 5 * 28)
    (lx, ly), (hx, hy) = projection.coords.min(0), projection.coords.max(0)
    assert x0 < lx < hx < x1 and y0 < ly < hy < y1  # every point lies on the picture
    step_x, step_y = (hx - lx) / 4, (hy - ly) / 4
    assert np.isclose(lx - x0, step_x / 2) and np.isclose(y1 - hy, step_y / 2)  # tiles centred on the grid
    for row, col in [(0, 0), (0, 4), (2, 3), (4, 1)]:  # row 0 holds the highest PCA 2
        spot = np.array([lx + col * step_x, hy - row * step_y])
        tile = picture[row * 28 : (row + 1) * 28, col * 28 : (col + 1) * 28]
        # a batch of 25 against a batch of 1, summed in another order on another CPU: 1e-5 holds on any, and
        # is far below one grey level (1/255)
        np.testing.assert_allclose(tile, encoding.decode(trained, projection.inverse(spot))[0], atol=1e-5)
    assert picture[:28, :28].tolist() != picture[-28:, -28:].tolist()  # the plane is not one picture


def test_umap_maps_a_sample_with_progress_and_new_codes_land_by_their_neighbours(codes):
    seen = []
    projection = projections.umap(codes.mu, n_points=800, n_neighbors=10, progress=seen.append)
    assert projection.coords.shape == (800, 2) and len(set(projection.index)) == 800
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    again = projections.umap(codes.mu, n_points=800, n_neighbors=10)
    np.testing.assert_allclose(again.coords, projection.coords, atol=1e-4)  # the same seed, the same map
    mapped = codes.mu[projection.index]
    placed = projections.place_by_neighbours(projection, codes.mu, mapped[:20])
    np.testing.assert_allclose(placed, projection.coords[:20], atol=1e-3)  # a mapped code lands on its own point
