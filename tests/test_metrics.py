"""Test-set metrics on a real (briefly trained) VAE and the real MNIST test images."""

import pytest
import torch

from aelab.checkpoints import load_checkpoint
from aelab.metrics import evaluate, fitted_posterior_nelbo
from aelab.models import ModelConfig
from aelab.train import TrainConfig, train


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
