"""The first page's NumPy encoder gives the MLP VAE's own codes."""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from aelab import latent, numpy_encoder
from aelab.checkpoints import SHIPPED_DIR, load_checkpoint, read_metadata, save_checkpoint
from aelab.data import load_dataset, load_pixels
from aelab.model_config import ACTIVATION_CLASSES
from aelab.models import ModelConfig, build_model


@pytest.mark.parametrize("activation", list(ACTIVATION_CLASSES))
def test_codes_match_torchs_for_every_activation_and_depth(tmp_path, activation):
    assert set(numpy_encoder.ACTIVATIONS) == set(ACTIVATION_CLASSES)
    images = load_dataset("mnist", "test", download=False).images[:300]
    for widths in [(256, 256), (64,), (128, 64, 32)]:
        torch.manual_seed(0)
        model = build_model(ModelConfig.for_model("vae", widths=widths, activation=activation, latent_dim=7))
        with torch.no_grad():
            model.head.bias += 3.0 * torch.randn(7)
            model.logvar_head.bias += 30.0 * torch.randn(7)  # beyond the clamp in places
        path = tmp_path / f"{activation}.safetensors"
        save_checkpoint(path, model)
        expected = latent.encode_all(load_checkpoint(path).model, images)
        mu, logvar = numpy_encoder.encode(str(path), model.config, images.numpy(), batch_size=128)
        assert mu.dtype == logvar.dtype == np.float32 and mu.shape == logvar.shape == (300, 7)
        np.testing.assert_allclose(mu, expected.mu, atol=1e-5)
        np.testing.assert_allclose(logvar, expected.logvar, atol=1e-5)
        assert logvar.min() >= -10.0 and logvar.max() <= 10.0 and (np.abs(logvar) == 10.0).any()


def test_only_the_mlp_vae_on_a_split_on_disk_is_encoded_without_torch():
    assert numpy_encoder.can_encode(ModelConfig.for_model("vae"))
    assert not any(numpy_encoder.can_encode(ModelConfig.for_model(name)) for name in ("conv_ae", "conv_vae"))
    np.testing.assert_array_equal(load_pixels("mnist", "test"), load_dataset("mnist", "test").images.numpy())
    assert load_pixels("digits", "test") is None


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_the_encoder_runs_on_one_blas_thread_and_leaves_the_pool_as_it_was(monkeypatch):
    path = str(SHIPPED_DIR / "vae.safetensors")
    config = ModelConfig.from_dict(read_metadata(path)["model"])
    act, seen = numpy_encoder.ACTIVATIONS[config.activation], []
    monkeypatch.setitem(numpy_encoder.ACTIVATIONS, config.activation, lambda x: seen.append(blas_threads()) or act(x))
    with threadpool_limits(2, user_api="blas"):
        mu, _ = numpy_encoder.encode(path, config, load_pixels("mnist", "test")[:300], batch_size=100)
        assert blas_threads() == {2}
    assert mu.shape == (300, config.latent_dim) and len(seen) == 3 * len(config.widths)  # 3 batches
    assert all(threads == {1} for threads in seen)
