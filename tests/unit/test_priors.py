"""Gaussian-mixture sampling and the density/coverage figure, on the starters and real MNIST images."""

import numpy as np
import pytest

from aelab.explore import encoding, priors
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint

N = priors.QUALITY_SAMPLES


@pytest.fixture(scope="module")
def pixels(mnist_test):
    return mnist_test.images[:, 0].numpy()


def test_collapsed_samples_score_a_low_coverage_and_real_images_a_high_one(pixels):
    real, other = pixels[:64], pixels[64:128]
    same = np.repeat(pixels[200:201], 64, axis=0)  # 64 copies of one real digit
    assert priors.density_coverage(real, other).coverage > 0.9
    collapsed = priors.density_coverage(real, same)
    assert collapsed.coverage < 0.3
    big = priors.density_coverage(pixels[:N], pixels[N : 2 * N])
    assert big.coverage > 0.9 and 0.8 < big.density < 1.3  # the data against itself: about 1 - 2^-5 and 1
    assert priors.density_coverage(pixels[:N], np.repeat(pixels[N : N + 1], N, axis=0)).coverage < 0.05


def test_a_mixture_gives_an_autoencoder_better_samples_than_one_gaussian(mnist_train, pixels):
    model = load_checkpoint(SHIPPED_DIR / "conv_ae.safetensors").model
    codes = encoding.encode_all(model, mnist_train.images)
    mixture = priors.fit_mixture(codes, 10)
    assert mixture.means.shape == (10, 32) and np.isclose(mixture.weights.sum(), 1)
    assert "autoencoder's codes" in mixture.description
    single = priors.sample(priors.prior_for(model, codes), N, seed=1)
    mixed = priors.sample_mixture(mixture, N, seed=1)
    real = pixels[:N]
    one, many = (priors.density_coverage(real, encoding.decode(model, z)) for z in (single, mixed))
    assert many.coverage > one.coverage + 0.1


def test_a_vaes_mixture_is_fitted_to_its_aggregate_posterior_and_covers_more_than_its_prior(mnist_train, pixels):
    model = load_checkpoint(SHIPPED_DIR / "vae.safetensors").model
    codes = encoding.encode_all(model, mnist_train.images)
    mixture = priors.fit_mixture(codes, 10)
    assert "aggregate posterior" in mixture.description
    drawn = priors.sample_mixture(mixture, 20_000, seed=2)
    aggregate = codes.mu.var(0).sum() + np.exp(codes.logvar).mean(0).sum()  # total variance of q(z)
    assert abs(drawn.var(0).sum() / aggregate - 1) < 0.05 and drawn.var(0).sum() > 1.2 * codes.mu.var(0).sum()
    real = pixels[:N]
    prior = priors.density_coverage(
        real, encoding.decode(model, priors.sample(priors.prior_for(model, None), N, seed=1))
    )
    fitted = priors.density_coverage(real, encoding.decode(model, priors.sample_mixture(mixture, N, seed=1)))
    assert fitted.coverage > prior.coverage


def test_sampling_is_seeded_and_temperature_scales_the_spread():
    prior = priors.Prior(np.array([1.0, -2.0]), np.linalg.cholesky(np.array([[2.0, 0.5], [0.5, 1.0]])), "test")
    single = priors.Mixture.from_prior(prior)
    drawn = priors.sample_mixture(single, 50_000, seed=0)
    np.testing.assert_allclose(drawn.mean(0), prior.mean, atol=0.03)
    np.testing.assert_allclose(np.cov(drawn, rowvar=False), prior.chol @ prior.chol.T, atol=0.05)
    np.testing.assert_array_equal(priors.sample_mixture(single, 5, seed=3), priors.sample_mixture(single, 5, seed=3))
    cold = priors.sample_mixture(single, 50_000, temperature=0.5, seed=0)
    np.testing.assert_allclose(cold.std(0) / drawn.std(0), 0.5, atol=0.01)


def test_bad_requests_get_one_clear_message(pixels):
    with pytest.raises(ValueError, match="needs at least 40 codes"):
        priors.fit_mixture(encoding.Codes(np.zeros((30, 4), np.float32)), 20)
    with pytest.raises(ValueError, match="samples like the real images"):
        priors.density_coverage(pixels[:10], np.zeros((5, 14, 14)))
