import json
import math

import pytest
import torch
from torch import nn

from aelab.data.registry import load_dataset
from aelab.data.shapes import DSPRITES, sample_factors
from aelab.models.autoencoders import (
    ACTIVATIONS,
    MODELS,
    ConvAutoencoder,
    build_model,
    kl_per_dim,
    total_correlation,
)
from aelab.models.config import ACTIVATION_CLASSES, KINDS, ModelConfig, describe


@pytest.mark.parametrize("name", list(MODELS))
def test_one_interface_for_every_model(name):
    model = build_model(ModelConfig.for_model(name))
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (5, model.latent_dim)
    assert model.decode(z).shape == (5, 1, 28, 28)
    assert model.reconstruct(x).shape == (5, 1, 28, 28)
    terms = model.loss(x)
    assert set(terms) == ({"loss", "recon", "kl"} if model.is_variational else {"loss", "recon"})
    assert all(t.ndim == 0 and torch.isfinite(t) for t in terms.values())


def test_conv_autoencoder_matches_the_published_architecture():
    model = ConvAutoencoder(ModelConfig.for_model("conv_ae"))
    convs = [m for m in model.encoder if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 32, (3, 3), (2, 2), (1, 1)),
        (32, 64, (3, 3), (2, 2), (1, 1)),
        (64, 128, (3, 3), (2, 2), (1, 1)),
    ]
    assert (model.head.in_features, model.head.out_features) == (2048, 32)
    deconvs = [m for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert [d.output_padding for d in deconvs] == [(0, 0), (1, 1), (1, 1)]
    assert model.encoder(torch.zeros(1, 1, 28, 28)).shape == (1, 2048)


def test_mlp_vae_matches_the_published_architecture():
    model = build_model(ModelConfig.for_model("vae"))
    linears = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears == [(784, 256), (256, 256), (256, 20), (20, 256), (256, 256), (256, 784), (256, 20)]
    assert model.is_variational and model.latent_dim == 20


def test_conv_vae_has_a_hidden_layer_each_side_of_the_latent_and_older_configs_none():
    model = build_model(ModelConfig.for_model("conv_vae"))
    linears = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears == [(2048, 256), (256, 20), (20, 256), (256, 2048), (256, 20)]
    assert model.posterior(torch.rand(3, 1, 28, 28))[1].shape == (3, 20)
    saved_before = ModelConfig.for_model("conv_vae").to_dict()
    del saved_before["hidden"]
    plain = build_model(ModelConfig.from_dict(saved_before))
    assert [(m.in_features, m.out_features) for m in plain.modules() if isinstance(m, nn.Linear)] == [
        (2048, 20),
        (20, 2048),
        (2048, 20),
    ]
    with pytest.raises(ValueError, match="hidden is for the conv models"):
        ModelConfig.for_model("vae", hidden=64)


def test_config_round_trips_through_json():
    cfg = ModelConfig.for_model("conv_vae", latent_dim=8, beta=4.0, recon="mse", widths=[16, 32, 64], hidden=32)
    again = ModelConfig.from_json(cfg.to_json())
    assert again == cfg and again.widths == (16, 32, 64) and again.hidden == 32
    assert json.loads(cfg.to_json())["beta"] == 4.0
    with pytest.raises(ValueError, match="Unknown model"):
        ModelConfig(name="gan")
    with pytest.raises(ValueError, match="Unknown model config fields"):
        ModelConfig.from_dict({"name": "vae", "depth": 3})
    with pytest.raises(ValueError, match="Unknown activation"):
        ModelConfig.for_model("vae", activation="sigmoid")


def test_activation_is_configurable():
    assert ModelConfig.for_model("vae").activation == "silu"
    relu = build_model(ModelConfig.for_model("conv_vae", activation="relu"))
    assert {type(m) for m in relu.modules()} >= {nn.ReLU} and not any(isinstance(m, nn.SiLU) for m in relu.modules())
    assert describe(ModelConfig.for_model("vae", activation="relu")) == "MLP VAE, 20-d latent, ReLU"
    assert describe(ModelConfig.for_model("vae")) == "MLP VAE, 20-d latent"


def test_the_torch_free_descriptions_match_the_networks():
    """aelab.models.config describes the models without torch; the networks must be what it says."""
    assert list(MODELS) == list(KINDS)
    for name, kind in KINDS.items():
        model = build_model(ModelConfig.for_model(name))
        assert model.is_variational == kind.variational
        assert not any(isinstance(m, nn.Conv2d) for m in model.modules()) == kind.mlp
    assert {name: cls.__name__ for name, cls in ACTIVATIONS.items()} == ACTIVATION_CLASSES


@pytest.mark.parametrize("name", list(MODELS))
def test_output_bias_starts_the_decoder_at_the_mean_image(name, mnist_train):
    images = mnist_train.images[:1000]
    torch.manual_seed(0)
    model = build_model(ModelConfig.for_model(name))
    with torch.no_grad():
        before = model.loss(images)["recon"]
        model.init_output_bias(images)
        after = model.loss(images)["recon"]
    assert after < before - 100  # a random decoder's grey images cost ~550 nats; the mean image far less
    if name == "vae":  # per-pixel bias: a pixel that is always 0 in MNIST starts near 0
        bias = torch.sigmoid(model.decoder[0][-1].bias.detach())
        assert float(bias[0]) < 0.01 and torch.allclose(bias, images.mean(0).flatten().clamp(1e-3, 1 - 1e-3), atol=1e-5)


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(64, 20), torch.randn(64, 20)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(kl_per_dim(mu, logvar), torch.distributions.kl_divergence(q, p))


def test_vae_loss_is_recon_plus_beta_kl_and_beta_scales_it():
    torch.manual_seed(0)
    model = build_model(ModelConfig.for_model("vae", beta=4.0))
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(1)
    terms = model.loss(x)
    torch.testing.assert_close(terms["loss"], terms["recon"] + 4.0 * terms["kl"])
    torch.manual_seed(1)
    assert torch.isclose(model.loss(x, beta=0.0)["loss"], terms["recon"])


def _posterior_samples(means: torch.Tensor, sigma: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """z drawn from N(means, sigma^2) per row, with the posteriors' means and log-variances."""
    logvar = torch.full_like(means, math.log(sigma**2))
    noise = torch.randn(means.shape, generator=torch.Generator().manual_seed(seed), dtype=means.dtype)
    return means + sigma * noise, means, logvar


def test_total_correlation_is_about_zero_for_independent_factors_and_the_mutual_information_of_correlated_ones():
    # Independent: posterior means are the dsprites recipe's scale, x and y (drawn without replacement from all
    # combinations, so independent), standardised. Correlated: two dimensions share one Gaussian cause c,
    # z_i = c + sigma * eps_i, whose mutual information is -log(1 - rho^2) / 2, rho = 1 / (1 + sigma^2).
    factors = torch.from_numpy(sample_factors(1024, seed=0, recipe=DSPRITES)[:, [1, 3, 4]]).double()
    independent = (factors - factors.mean(0)) / factors.std(0)
    assert abs(float(total_correlation(*_posterior_samples(independent, 0.5, seed=1)))) < 0.05
    cause = torch.randn(1024, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sigma = 0.5
    rho = 1 / (1 + sigma**2)
    tc = float(total_correlation(*_posterior_samples(cause.expand(-1, 2), sigma, seed=3)))
    # the mixture of the 1,024 posteriors stands for q(z): its estimate is within 0.1 nats at this size
    assert tc == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.1)


def test_beta_tcvae_weighs_the_total_correlation_by_beta_and_the_rest_of_the_kl_by_one():
    torch.manual_seed(0)
    tcvae = build_model(ModelConfig.for_model("vae", beta=6.0, objective="beta_tcvae"))
    plain = build_model(ModelConfig.for_model("vae"))
    plain.load_state_dict(tcvae.state_dict())
    x = load_dataset("dsprites", "test").images[:64]
    x = torch.nn.functional.pad(x, (-2, -2, -2, -2))  # 1x28x28, the models' default shape
    terms = tcvae.loss(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(terms["loss"], terms["recon"] + terms["kl"] + 5.0 * terms["tc"])
    same = plain.loss(x, beta=1.0, generator=torch.Generator().manual_seed(1))
    at_one = tcvae.loss(x, beta=1.0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(at_one["loss"], same["loss"])  # at beta 1 both are the plain ELBO
    assert describe(tcvae.config) == "MLP VAE, 20-d latent, beta-TCVAE (TC weight 6)"
    with pytest.raises(ValueError, match="objective beta_tcvae is for VAEs"):
        ModelConfig.for_model("conv_ae", objective="beta_tcvae")
    with pytest.raises(ValueError, match="objective must be one of"):
        ModelConfig.for_model("vae", objective="factor_vae")


def test_losses_are_summed_over_pixels_and_averaged_over_the_batch():
    model = build_model(ModelConfig.for_model("conv_ae"))
    x = torch.rand(4, 1, 28, 28)
    per_image = nn.functional.binary_cross_entropy_with_logits(model.reconstruct(x), x, reduction="sum") / 4
    torch.testing.assert_close(model.loss(x)["recon"], per_image)


def test_log_variance_is_clamped_for_extreme_inputs():
    model = build_model(ModelConfig.for_model("vae"))
    with torch.no_grad():
        model.logvar_head.bias.fill_(1e4)
    _, logvar = model.posterior(torch.rand(2, 1, 28, 28))
    assert logvar.max() <= 10.0
    assert torch.isfinite(model.loss(torch.rand(2, 1, 28, 28))["loss"])
