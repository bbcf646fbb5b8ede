"""Test-set metrics on a real (briefly trained) VAE and the real MNIST test images."""

import pytest
import torch

from aelab.explore.metrics import evaluate, fitted_posterior_nelbo
from aelab.models.config import ModelConfig
from aelab.store.checkpoints import load_checkpoint
from aelab.training.config import TrainConfig
from aelab.training.trainer import train


@pytest.fixture(scope="module")
def vae(mnist_train, tmp_path_factory):
    out = tmp_path_factory.mktemp("metrics") / "vae.safetensors"
    cfg = TrainConfig(model=ModelConfig.for_model("vae", latent_dim=8), epochs=3, batch_size=64, patience=0)
    return load_checkpoint(train(cfg, mnist_train.subset(range(2000)), out).path).model


def test_fitting_each_posterior_beats_the_encoder_and_leaves_the_model_alone(vae, mnist_test):
    images = mnist_test.images[:300]
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    amortised = evaluate(vae, images)["nelbo"]
    fitted = fitted_posterior_nelbo(vae, images, steps=100)
    assert fitted < amortised - 1.0  # a briefly trained encoder leaves nats on the table
    assert fitted > 0.5 * amortised  # but the decoder, not inference, carries most of the loss
    assert all(torch.equal(before[k], v) for k, v in vae.state_dict().items())
    assert all(p.grad is None for p in vae.parameters())


def test_sampled_terms_draw_from_their_own_generator_not_torchs_global_one(vae, mnist_test):
    """The app trains in one thread while pages sample in others: metrics and losses must neither
    depend on nor move torch's shared generator."""
    images = mnist_test.images[:200]
    state = torch.get_rng_state()
    first = evaluate(vae, images, seed=3)["nelbo"]
    torch.rand(1000)  # another thread's draws in between
    assert evaluate(vae, images, seed=3)["nelbo"] == first
    assert evaluate(vae, images, seed=4)["nelbo"] != first
    torch.set_rng_state(state)
    vae.loss(images, generator=torch.Generator().manual_seed(0))
    fitted_posterior_nelbo(vae, images[:20], steps=2)
    assert torch.equal(torch.get_rng_state(), state)
