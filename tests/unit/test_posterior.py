"""encoding.posterior_of, the posterior the Reconstruct page and the map's clicked point draw, on the shipped VAE and
a real MNIST test digit."""

from __future__ import annotations

import numpy as np
import pytest

from aelab.explore import encoding
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint
from aelab.ui import charts


def shipped(name: str):
    path = SHIPPED_DIR / f"{name}.safetensors"
    assert path.is_file(), f"{path} is missing: train it with checkpoints/train_all.sh"
    return load_checkpoint(path).model.eval()


def test_the_posterior_is_the_models_and_its_draws_are_mu_plus_sigma_eps(mnist_test):
    vae = shipped("vae")
    image = mnist_test.images[:1]
    found = encoding.posterior_of(vae, image, draws=5, seed=3)
    codes = encoding.encode_all(vae, image)
    np.testing.assert_allclose(found.mu, codes.mu[0], atol=1e-6)
    np.testing.assert_allclose(found.sigma, np.exp(0.5 * codes.logvar[0]), rtol=1e-5)
    np.testing.assert_allclose(found.kl, encoding.kl_per_dim(codes)[0], rtol=1e-5, atol=1e-7)
    assert found.draws.shape == (5, 28, 28) and found.eps.shape == (5, 20)
    np.testing.assert_allclose(found.draws, encoding.decode(vae, found.mu + found.sigma * found.eps), atol=1e-6)
    np.testing.assert_allclose(found.mean_decode, encoding.reconstruct(vae, image)[0], atol=1e-6)
    again = encoding.posterior_of(vae, image, draws=5, seed=3)
    np.testing.assert_array_equal(again.draws, found.draws)  # seeded: the page shows the same draws on a rerun
    assert not np.allclose(encoding.posterior_of(vae, image, draws=5, seed=4).draws, found.draws)
    # the draws differ from each other, and most where the posterior is widest: they are samples, not copies
    assert np.abs(found.draws - found.mean_decode).mean() > 1e-3
    # A VAE uses few dimensions: the collapsed ones (KL near 0) have sigma near 1, the used ones much less
    used, unused = found.kl > 1.0, found.kl < 0.05
    assert used.any() and unused.any()
    assert found.sigma[unused].min() > 0.8 and found.sigma[used].max() < 0.5


def test_an_autoencoder_has_no_posterior(mnist_test):
    with pytest.raises(ValueError, match="no posterior"):
        encoding.posterior_of(shipped("conv_ae"), mnist_test.images[:1])


def test_the_posterior_chart_has_mu_with_sigma_bars_and_kl():
    mu, sigma, kl = np.array([0.5, -1.0]), np.array([0.1, 0.9]), np.array([2.0, 0.01])
    fig = charts.posterior_bars(mu, sigma, kl)
    bars, kl_bars = fig.data
    assert list(bars.y) == [0.5, -1.0] and list(bars.error_y.array) == [0.1, 0.9]
    assert list(kl_bars.y) == [2.0, 0.01] and list(kl_bars.x) == ["0", "1"]
