"""Autoencoders behind one interface and a registry by name; aelab.model_config describes them.

Every model maps images (B, 1, 28, 28) in [0, 1] to latent codes and back to *logits*;
apply the sigmoid for display. Losses are summed over pixels and averaged over the batch,
so numbers read as nats per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aelab.model_config import (  # a model's description, free of torch
    ACTIVATION_CLASSES, LOGVAR_MAX, LOGVAR_MIN, ModelConfig)

IMAGE_SHAPE = (1, 28, 28)
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


# --- building blocks -------------------------------------------------------------------


def conv_encoder(channels: tuple[int, ...], act: type[nn.Module], hidden: int = 0) -> nn.Sequential:
    """3x3 stride-2 convolutions: 28 -> 14 -> 7 -> 4, flatten, then the optional hidden layer."""
    if len(channels) != 3:
        raise ValueError("Convolutional models take exactly three channel widths")
    layers: list[nn.Module] = []
    in_ch = 1
    for ch in channels:
        layers += [nn.Conv2d(in_ch, ch, 3, stride=2, padding=1), act()]
        in_ch = ch
    layers.append(nn.Flatten())
    if hidden:
        layers += [nn.Linear(in_ch * 16, hidden), act()]
    return nn.Sequential(*layers)


def conv_decoder(latent_dim: int, channels: tuple[int, ...], act: type[nn.Module], hidden: int = 0) -> nn.Sequential:
    """Mirror of `conv_encoder`: the optional hidden layer, then 4 -> 7 -> 14 -> 28 with output_padding 0, 1, 1."""
    c1, c2, c3 = channels
    into = mlp([latent_dim, hidden, c3 * 16], act) if hidden else nn.Linear(latent_dim, c3 * 16)
    return nn.Sequential(
        into,
        act(),
        nn.Unflatten(1, (c3, 4, 4)),
        nn.ConvTranspose2d(c3, c2, 3, stride=2, padding=1, output_padding=0),
        act(),
        nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1),
        act(),
        nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1),
    )


def mlp(sizes: list[int], act: type[nn.Module]) -> nn.Sequential:
    """Linear layers with `act` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def mlp_encoder(widths: tuple[int, ...], act: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), mlp([784, *widths], act), act())


def mlp_decoder(latent_dim: int, widths: tuple[int, ...], act: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(mlp([latent_dim, *reversed(widths), 784], act), nn.Unflatten(1, IMAGE_SHAPE))


def conv_parts(config: ModelConfig) -> tuple[nn.Module, int, nn.Module]:
    """Encoder, its feature size and decoder of the conv models (the AE and the VAE share them)."""
    act = ACTIVATIONS[config.activation]
    return (conv_encoder(config.widths, act, config.hidden), config.hidden or config.widths[-1] * 16,
            conv_decoder(config.latent_dim, config.widths, act, config.hidden))


def mlp_parts(config: ModelConfig) -> tuple[nn.Module, int, nn.Module]:
    act = ACTIVATIONS[config.activation]
    return mlp_encoder(config.widths, act), config.widths[-1], mlp_decoder(config.latent_dim, config.widths, act)


# --- the two families ------------------------------------------------------------------


class Autoencoder(nn.Module):
    """Deterministic autoencoder: encoder features -> linear head -> code -> decoder."""

    is_variational = False  # as model_config.KINDS says of each registered model (a test checks they agree)

    def __init__(self, config: ModelConfig, encoder: nn.Module, feature_dim: int, decoder: nn.Module):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.head = nn.Linear(feature_dim, config.latent_dim)
        self.decoder = decoder

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent code of each image (for VAEs, the posterior mean)."""
        return self.head(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, 1, 28, 28)."""
        return self.decoder(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction logits."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def init_output_bias(self, images: torch.Tensor) -> None:
        """Start the decoder at the data's mean image: its last bias becomes the logit of the mean
        pixel (per pixel for an MLP, one value for a conv decoder). Training then need not spend
        its first steps learning the background (Burda et al.'s IWAE code does the same)."""
        last = [m for m in self.decoder.modules() if isinstance(m, (nn.Linear, nn.ConvTranspose2d))][-1]
        per_pixel = last.bias.numel() == images[0].numel()
        mean = images.mean(0).flatten() if per_pixel else images.mean().expand(last.bias.shape)
        last.bias.copy_(torch.logit(mean.clamp(1e-3, 1 - 1e-3)))

    def loss(self, x: torch.Tensor, target: torch.Tensor | None = None, beta: float | None = None,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Named, batch-averaged loss terms; `target` differs from `x` when denoising. `beta` and
        `generator` (the reparameterisation noise) matter to VAEs only."""
        target = x if target is None else target
        recon = reconstruction_loss(self.reconstruct(x), target, self.config.recon).mean()
        return {"loss": recon, "recon": recon}

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None, beta: float | None = None,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The loss terms: a training step is one call, which a wrapper such as DistributedDataParallel
        needs to see (it hooks `forward`, not `loss`)."""
        return self.loss(x, target, beta, generator)


class VariationalAutoencoder(Autoencoder):
    """Gaussian posterior N(mu, sigma^2), standard normal prior, loss = recon + beta * KL."""

    is_variational = True

    def __init__(self, config: ModelConfig, encoder: nn.Module, feature_dim: int, decoder: nn.Module):
        super().__init__(config, encoder, feature_dim, decoder)
        self.logvar_head = nn.Linear(feature_dim, config.latent_dim)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and clamped log-variance of q(z|x)."""
        h = self.encoder(x)
        return self.head(h), self.logvar_head(h).clamp(LOGVAR_MIN, LOGVAR_MAX)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def loss(self, x: torch.Tensor, target: torch.Tensor | None = None, beta: float | None = None,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        target = x if target is None else target
        beta = self.config.beta if beta is None else beta
        mu, logvar = self.posterior(x)
        z = reparameterise(mu, logvar, generator)
        recon = reconstruction_loss(self.decode(z), target, self.config.recon).mean()
        kl = kl_per_dim(mu, logvar).sum(1).mean()
        return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


class ConvAutoencoder(Autoencoder):
    """Conv 1->32->64->128 (28->14->7->4), Linear 2048->latent; the decoder mirrors it."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, *conv_parts(config))


class VAE(VariationalAutoencoder):
    """MLP VAE: 784->256->256 shared encoder, mu / log-variance heads, 20->256->256->784 decoder."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, *mlp_parts(config))


class ConvVAE(VariationalAutoencoder):
    """The ConvAutoencoder's convolutions with a fully connected layer each side of the latent: the deeper
    encoder infers posteriors closer to the best ones."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, *conv_parts(config))


MODELS: dict[str, type[Autoencoder]] = {"conv_ae": ConvAutoencoder, "vae": VAE, "conv_vae": ConvVAE}


def build_model(config: ModelConfig) -> Autoencoder:
    """Instantiate the registered model for `config`."""
    return MODELS[config.name](config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

