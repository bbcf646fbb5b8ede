"""The IWAE log-likelihood bound on the starter VAEs and real MNIST test images."""

import shutil

import numpy as np
import pytest
import torch

from aelab.explore import likelihood
from aelab.explore.metrics import evaluate
from aelab.models.autoencoders import build_model
from aelab.models.config import ModelConfig
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint, read_metadata


@pytest.fixture(scope="module")
def vae():
    return load_checkpoint(SHIPPED_DIR / "vae.safetensors").model


def test_with_one_sample_it_is_the_elbo_in_expectation(vae, mnist_test):
    images = mnist_test.images[:1000]
    one = likelihood.iwae_nll(vae, images, k=1, seed=100)  # other draws than evaluate's: equal on average only
    assert one.values.shape == (1000,) and not one.stopped
    assert abs(one.nll - evaluate(vae, images, seed=0)["nelbo"]) < 0.75
    assert 0 < one.stderr < 2


def test_the_bound_tightens_as_k_grows(vae, mnist_test):
    images = mnist_test.images[:200]
    one, ten, hundred = (likelihood.iwae_nll(vae, images, k=k) for k in (1, 10, 100))
    assert one.nll > ten.nll > hundred.nll and one.nll - hundred.nll > 2
    assert (hundred.values < one.values).mean() > 0.75  # one sample is noisy: it may land above on an image
    assert hundred.nll > 80  # a bound on -log p(x) of MNIST digits, not a number below any model's


def test_the_same_seed_gives_the_same_figure(vae, mnist_test):
    images = mnist_test.images[:50]
    first, again, other = (likelihood.iwae_nll(vae, images, k=20, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(first.values, again.values)
    assert not np.array_equal(first.values, other.values)


def test_a_squared_error_vae_is_measured_on_its_own_elbos_scale(mnist_test):
    torch.manual_seed(0)
    model = build_model(ModelConfig.for_model("vae", recon="mse")).eval()
    images = mnist_test.images[:1000]
    one = likelihood.iwae_nll(model, images, k=1, seed=100)
    assert abs(one.nll - evaluate(model, images, seed=0)["nelbo"]) < 0.75


def test_progress_counts_decodes_and_a_stop_keeps_the_finished_images(vae, mnist_test):
    images = mnist_test.images[:30]
    seen = []
    done = likelihood.iwae_nll(vae, images, k=1000, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (30_000, 30_000) and all(a[0] < b[0] for a, b in zip(seen, seen[1:]))
    calls = iter(range(1000))
    stopped = likelihood.iwae_nll(vae, images, k=1000, should_stop=lambda: next(calls) >= 3)
    assert stopped.stopped and len(stopped.values) == 12  # batches of 4 images: 3 done, the 4th stopped
    np.testing.assert_allclose(stopped.values, done.values[:12], rtol=1e-6)
    with pytest.raises(likelihood.LikelihoodStopped):
        likelihood.iwae_nll(vae, images, k=5000, should_stop=lambda: True)


def test_an_autoencoder_has_no_bound(mnist_test):
    model = load_checkpoint(SHIPPED_DIR / "conv_ae.safetensors").model
    with pytest.raises(ValueError, match="not variational"):
        likelihood.iwae_nll(model, mnist_test.images[:5], k=10)
    with pytest.raises(ValueError, match="k must be"):
        likelihood.check_estimable(build_model(ModelConfig.for_model("vae")), 0)


def test_the_estimate_is_stored_beside_the_test_metrics(tmp_path, mnist_test):
    path = tmp_path / "vae.safetensors"
    shutil.copy(SHIPPED_DIR / "vae.safetensors", path)
    before = read_metadata(path)["metrics"]
    result = likelihood.record_log_likelihood(path, mnist_test, k=50, n_images=40)
    metrics = read_metadata(path)["metrics"]
    assert metrics["iwae"] == result.to_metrics() | {"dataset": "mnist test", "seed": 0}
    assert metrics["iwae"]["images"] == 40 and metrics["iwae"]["nll"] < metrics["nelbo"]
    assert {k: v for k, v in metrics.items() if k != "iwae"} == {k: v for k, v in before.items() if k != "iwae"}
