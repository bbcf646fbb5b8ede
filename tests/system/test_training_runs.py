"""Training runs long enough to learn a skill, on the real MNIST files: a denoising autoencoder that removes noise,
shift augmentation that is seeded and ends on clean images. The quick ones: tests/unit/test_train.py."""

import pytest
import torch

from aelab.models.config import ModelConfig
from aelab.store.checkpoints import load_checkpoint
from aelab.training.trainer import TrainConfig, train


def _cfg(name="vae", **kw):
    return TrainConfig(model=ModelConfig.for_model(name), dataset="mnist", batch_size=64, patience=0, **kw)


def test_denoising_training_learns_to_remove_noise(mnist_train, mnist_test, tmp_path):
    from aelab.models.noise import add_noise

    cfg = TrainConfig(model=ModelConfig.for_model("conv_ae"), epochs=4, batch_size=32, lr=2e-3, patience=0,
                      noise="salt_pepper", noise_level=0.2)
    result = train(cfg, mnist_train.subset(range(2000)), tmp_path / "dn.safetensors")
    model = load_checkpoint(result.path).model
    clean = mnist_test.images[:500]
    noisy = add_noise(clean, "salt_pepper", 0.2, torch.Generator().manual_seed(1))
    with torch.no_grad():
        denoised = torch.sigmoid(model.reconstruct(noisy))
    assert (denoised - clean).pow(2).mean() < 0.5 * (noisy - clean).pow(2).mean()


def test_shift_augmentation_is_seeded_and_ends_on_clean_images(small, tmp_path):
    cfg = _cfg(epochs=4, shift=2, shift_until=0.5)
    a = train(cfg, small, tmp_path / "a.safetensors")
    b = train(cfg, small, tmp_path / "b.safetensors")
    plain = train(_cfg(epochs=4), small, tmp_path / "plain.safetensors")
    weights = [load_checkpoint(r.path).model.state_dict() for r in (a, b, plain)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    # shifted epochs are harder to fit; the clean ones that follow drop the training loss back
    shifted, clean = a.history[1].train["loss"], a.history[2].train["loss"]
    assert clean < shifted and plain.history[1].train["loss"] < shifted
    with pytest.raises(ValueError, match="shift"):
        _cfg(epochs=1, shift=9)
