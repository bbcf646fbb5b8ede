"""Autoencoders behind one interface and a registry by name; aelab.models.config describes them.

Every model maps images (B, C, H, W) in [0, 1] (its config's `image_shape`: 1x28x28 for MNIST,
3x32x32, 3x64x64 in colour) to latent codes and back to *logits*; apply the sigmoid for display.
Losses are summed over pixels and channels and averaged over the batch, so numbers read as nats
per image: for BCE, the negative log-likelihood of the image's C*H*W values, each a Bernoulli
probability (a proper likelihood for values in [0, 1]). A colour image has three times the values
of a gray one of its size, so its nats are not comparable with a gray model's.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from aelab.models.config import (
    ACTIVATION_CLASSES,
    LOGVAR_MAX,
    LOGVAR_MIN,
    OBJECTIVES,
    ModelConfig,
    OwnModelConfig,
    conv_sides,
)

ACTIVATIONS: dict[str, type[nn.Module]] = {name: getattr(nn, cls) for name, cls in ACTIVATION_CLASSES.items()}


def reconstruction_loss(logits: torch.Tensor, target: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Per-image reconstruction loss, summed over pixels: shape (B,)."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - target) ** 2
    return per_pixel.flatten(1).sum(1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + eps * sigma. A caller's own `generator` keeps its draws apart from every other
    user of torch's global one (the app trains in one thread while others sample)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + eps * torch.exp(0.5 * logvar)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) in closed form, per image and dimension: shape (B, D)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) per element (broadcast)."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Estimate of the total correlation KL(q(z) || prod_d q(z_d)) of the aggregate posterior, from samples z (M, D)
    of the posteriors N(mu, exp(logvar)) of a minibatch (Chen et al. 2018): q(z_i) and each q(z_id) are the
    mixtures of the M posteriors, the minibatch taken as the data. Its gradients are those of the paper's
    minibatch-weighted sampling, whose log(N M) constants only shift the value (by (D - 1) log N: far from 0 even
    for independent codes); this one reads about 0 for independent codes given a large enough batch."""
    log_q = gaussian_log_density(z[:, None], mu[None], logvar[None])  # (M, M, D): sample i under posterior j
    log_m = math.log(len(z))
    log_qz = torch.logsumexp(log_q.sum(2), 1) - log_m
    log_marginals = (torch.logsumexp(log_q, 1) - log_m).sum(1)
    return (log_qz - log_marginals).mean()


# --- building blocks -------------------------------------------------------------------


def conv_encoder(
    in_channels: int, side: int, channels: tuple[int, ...], act: type[nn.Module], hidden: int = 0
) -> nn.Sequential:
    """3x3 stride-2 convolutions, one per width (28 -> 14 -> 7 -> 4 for the seed's three), flatten, then the
    optional hidden layer."""
    layers: list[nn.Module] = []
    in_ch = in_channels
    for ch in channels:
        layers += [nn.Conv2d(in_ch, ch, 3, stride=2, padding=1), act()]
        in_ch = ch
    layers.append(nn.Flatten())
    if hidden:
        layers += [nn.Linear(in_ch * conv_sides(side, len(channels))[-1] ** 2, hidden), act()]
    return nn.Sequential(*layers)


def conv_decoder(
    latent_dim: int, out_channels: int, side: int, channels: tuple[int, ...], act: type[nn.Module], hidden: int = 0
) -> nn.Sequential:
    """Mirror of `conv_encoder`: the optional hidden layer, then stride-2 transposed convolutions back through
    the encoder's sides, each output_padding (0 or 1) the one that lands on the next (4 -> 7 -> 14 -> 28: 0, 1, 1)."""
    sides = conv_sides(side, len(channels))
    final = channels[-1] * sides[-1] ** 2
    into = mlp([latent_dim, hidden, final], act) if hidden else nn.Linear(latent_dim, final)
    layers: list[nn.Module] = [into, act(), nn.Unflatten(1, (channels[-1], sides[-1], sides[-1]))]
    outs = [*reversed(channels[:-1]), out_channels]
    for i, (in_ch, out_ch) in enumerate(zip(reversed(channels), outs)):
        small, large = sides[-1 - i], sides[-2 - i]
        layers.append(nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=large - (2 * small - 1)))
        if i < len(outs) - 1:
            layers.append(act())
    return nn.Sequential(*layers)


def mlp(sizes: list[int], act: type[nn.Module]) -> nn.Sequential:
    """Linear layers with `act` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def mlp_encoder(shape: tuple[int, int, int], widths: tuple[int, ...], act: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), mlp([math.prod(shape), *widths], act), act())


def mlp_decoder(
    latent_dim: int, shape: tuple[int, int, int], widths: tuple[int, ...], act: type[nn.Module]
) -> nn.Sequential:
    return nn.Sequential(mlp([latent_dim, *reversed(widths), math.prod(shape)], act), nn.Unflatten(1, shape))


def conv_parts(config: ModelConfig) -> tuple[nn.Module, int, nn.Module]:
    """Encoder, its feature size and decoder of the conv models (the AE and the VAE share them)."""
    act, widths, side = ACTIVATIONS[config.activation], config.widths, config.side
    features = config.hidden or widths[-1] * conv_sides(side, len(widths))[-1] ** 2
    return (
        conv_encoder(config.channels, side, widths, act, config.hidden),
        features,
        conv_decoder(config.latent_dim, config.channels, side, widths, act, config.hidden),
    )


def mlp_parts(config: ModelConfig) -> tuple[nn.Module, int, nn.Module]:
    act, shape = ACTIVATIONS[config.activation], config.image_shape
    return (
        mlp_encoder(shape, config.widths, act),
        config.widths[-1],
        mlp_decoder(config.latent_dim, shape, config.widths, act),
    )


# --- the two families ------------------------------------------------------------------


class LatentModel(nn.Module, metaclass=abc.ABCMeta):
    """aelab's model interface: `encode`, `decode` (logits), `reconstruct`, `loss` (named terms), `latent_dim`,
    `is_variational` and, for a VAE, `posterior(x)`: the mean and clamped log-variance of q(z|x). aelab's networks
    and an operator's own (aelab.models.own) share it, and with it the loss: recon + beta * KL for a VAE, recon
    alone otherwise."""

    config: ModelConfig | OwnModelConfig  # latent_dim, image_shape, recon and beta are read here
    is_variational = False
    # declared, not defined: a deterministic model has no posterior (aelab.models.own looks for one by name)
    posterior: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images it takes and gives."""
        return self.config.image_shape

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent code of each image (for VAEs, the posterior mean)."""

    @abc.abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, C, H, W)."""

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction logits."""
        return self.decode(self.encode(x))

    def loss(
        self,
        x: torch.Tensor,
        target: torch.Tensor | None = None,
        beta: float | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Named, batch-averaged loss terms; `target` differs from `x` when denoising. `beta` and
        `generator` (the reparameterisation noise) matter to VAEs only. A beta-TCVAE (its config's `objective`)
        adds (beta - 1) * TC to the whole KL: beta weighs the total correlation, and the rest of the KL (index-code
        mutual information and dimension-wise KL) keeps weight 1, Chen et al.'s alpha = gamma = 1."""
        target = x if target is None else target
        if not self.is_variational:
            recon = reconstruction_loss(self.reconstruct(x), target, self.config.recon).mean()
            return {"loss": recon, "recon": recon}
        beta = self.config.beta if beta is None else beta
        mu, logvar = self.posterior(x)
        z = reparameterise(mu, logvar, generator)
        recon = reconstruction_loss(self.decode(z), target, self.config.recon).mean()
        kl = kl_per_dim(mu, logvar).sum(1).mean()
        if getattr(self.config, "objective", OBJECTIVES[0]) == OBJECTIVES[0]:  # an own model's config has none
            return {"loss": recon + beta * kl, "recon": recon, "kl": kl}
        tc = total_correlation(z, mu, logvar)
        return {"loss": recon + kl + (beta - 1) * tc, "recon": recon, "kl": kl, "tc": tc}

    def forward(
        self,
        x: torch.Tensor,
        target: torch.Tensor | None = None,
        beta: float | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """The loss terms: a training step is one call, which a wrapper such as DistributedDataParallel
        needs to see (it hooks `forward`, not `loss`)."""
        return self.loss(x, target, beta, generator)


class Autoencoder(LatentModel):
    """Deterministic autoencoder: encoder features -> linear head -> code -> decoder."""

    config: ModelConfig
    is_variational = False  # as model_config.KINDS says of each registered model (a test checks they agree)

    def __init__(self, config: ModelConfig, encoder: nn.Module, feature_dim: int, decoder: nn.Module):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.head = nn.Linear(feature_dim, config.latent_dim)
        self.decoder = decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def init_output_bias(self, images: torch.Tensor) -> None:
        """Start the decoder at the data's mean image: its last bias becomes the logit of the mean
        pixel (per pixel for an MLP, per channel for a conv decoder). Training then need not spend
        its first steps learning the background (Burda et al.'s IWAE code does the same)."""
        last = [m for m in self.decoder.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))][-1]
        bias = last.bias
        if bias is None:
            raise ValueError(f"{type(self).__name__}'s last decoder layer has no bias to start at the mean image")
        per_pixel = bias.numel() == images[0].numel()
        mean = images.mean(0).flatten() if per_pixel else _channel_means(images)
        bias.copy_(torch.logit(mean.clamp(1e-3, 1 - 1e-3)))


class VariationalAutoencoder(Autoencoder):
    """Gaussian posterior N(mu, sigma^2), standard normal prior, loss = recon + beta * KL."""

    is_variational = True

    def __init__(self, config: ModelConfig, encoder: nn.Module, feature_dim: int, decoder: nn.Module):
        super().__init__(config, encoder, feature_dim, decoder)
        self.logvar_head = nn.Linear(feature_dim, config.latent_dim)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.head(h), self.logvar_head(h).clamp(LOGVAR_MIN, LOGVAR_MAX)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]


def _channel_means(images: torch.Tensor) -> torch.Tensor:
    """The mean of each channel of (N, C, H, W) images: (C,). One channel's is the mean of all (as before colour)."""
    if images.shape[1] == 1:
        return images.mean().reshape(1)
    return images.transpose(0, 1).flatten(1).mean(1)


class ConvAutoencoder(Autoencoder):
    """Conv C->32->64->128 (28->14->7->4 at 1x28x28), Linear 2048->latent; the decoder mirrors it. Larger
    pictures get a layer per further halving (64 px: 32->64->128->256, 64->32->16->8->4)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, *conv_parts(config))


class VAE(VariationalAutoencoder):
    """MLP VAE: C*H*W (784 at 1x28x28)->256->256 shared encoder, mu / log-variance heads, 20->256->256->C*H*W
    decoder."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, *mlp_parts(config))


class ConvVAE(VariationalAutoencoder):
    """The ConvAutoencoder's convolutions with a fully connected layer each side of the latent: the deeper
    encoder infers posteriors closer to the best ones."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, *conv_parts(config))


MODELS: dict[str, type[ConvAutoencoder | VAE | ConvVAE]] = {"conv_ae": ConvAutoencoder, "vae": VAE, "conv_vae": ConvVAE}


def build_model(config: ModelConfig) -> Autoencoder:
    """Instantiate the registered model for `config`."""
    return MODELS[config.name](config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
