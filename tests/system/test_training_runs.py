"""A training run long enough to learn a skill, on the real MNIST files: a denoising autoencoder that removes noise.
The quick runs: tests/unit/test_train.py."""

import torch

from aelab.models.config import ModelConfig
from aelab.store.checkpoints import load_checkpoint
from aelab.training.config import TrainConfig
from aelab.training.trainer import train


def test_denoising_training_learns_to_remove_noise(mnist_train, mnist_test, tmp_path):
    from aelab.models.noise import add_noise

    cfg = TrainConfig(
        model=ModelConfig.for_model("conv_ae"),
        epochs=4,
        batch_size=32,
        lr=2e-3,
        patience=0,
        noise="salt_pepper",
        noise_level=0.2,
    )
    result = train(cfg, mnist_train.subset(range(2000)), tmp_path / "dn.safetensors")
    model = load_checkpoint(result.path).model
    clean = mnist_test.images[:500]
    noisy = add_noise(clean, "salt_pepper", 0.2, torch.Generator().manual_seed(1))
    with torch.no_grad():
        denoised = torch.sigmoid(model.reconstruct(noisy))
    assert (denoised - clean).pow(2).mean() < 0.5 * (noisy - clean).pow(2).mean()
