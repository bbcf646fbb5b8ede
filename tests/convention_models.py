"""Own models written to the conventions published code uses, not aelab's (tests/unit/test_conventions.py): each
trained briefly on MNIST with its own loss, so that it has a real reconstruction of its own to compare with.

Their entry points are `convention_models:NAME` (tests/ is on sys.path); `train_all` writes each one's weights.
"""

from __future__ import annotations

import contextlib
import io
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from aelab.cli import main

LATENT = 8
MEAN, STD = 0.1307, 0.3081  # the MNIST standardisation of the PyTorch tutorials


class Probabilities(nn.Module):
    """A sigmoid decoder trained with BCE on probabilities; its encoder calls `.view`."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, 128), nn.ReLU())
        self.head = nn.Linear(128, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 128), nn.ReLU(), nn.Linear(128, 784))

    def taken(self, x):  # images in [0, 1] as its training gave them
        return x

    def encode(self, x):
        return self.head(self.body(x.view(len(x), -1)))

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(len(z), 1, 28, 28)

    def pixels(self, out):  # its output as pixels in [0, 1]
        return out

    def own_loss(self, x):
        return F.binary_cross_entropy(self.decode(self.encode(self.taken(x))).clamp(1e-6, 1 - 1e-6), x)


class Logits(Probabilities):
    def decode(self, z):
        return self.dec(z).view(len(z), 1, 28, 28)

    def pixels(self, out):
        return torch.sigmoid(out)

    def own_loss(self, x):
        return F.binary_cross_entropy_with_logits(self.decode(self.encode(x)), x)


class Tanh(Probabilities):
    """Images in [-1, 1] in and out, trained with MSE: the most common convention of published VAE code."""

    def taken(self, x):
        return x * 2 - 1

    def decode(self, z):
        return torch.tanh(self.dec(z)).view(len(z), 1, 28, 28)

    def pixels(self, out):
        return (out + 1) / 2

    def own_loss(self, x):
        return F.mse_loss(self.decode(self.encode(self.taken(x))), self.taken(x))


class Standardised(Logits):
    """Inputs standardised by MNIST's mean and std, as torchvision's Normalize does; logits out."""

    def taken(self, x):
        return (x - MEAN) / STD

    def own_loss(self, x):
        return F.binary_cross_entropy_with_logits(self.decode(self.encode(self.taken(x))), x)


class Submodules(nn.Module):
    """No encode or decode: `encoder` and `decoder` submodules and a forward, as most tutorials write them."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, LATENT))
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28))
        )

    def taken(self, x):
        return x

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def pixels(self, out):
        return out

    def own_loss(self, x):
        return F.binary_cross_entropy(self(x).clamp(1e-6, 1 - 1e-6), x)


class Spatial(Logits):
    """A conv bottleneck: codes of shape (B, 8, 4, 4), as the conv tutorials' encoders give them."""

    steps = 1500  # a conv net learns slower than the MLPs here

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1)
        )  # 28 -> 14 -> 7 -> 4
        self.up = nn.Sequential(nn.Flatten(), nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 784))

    def encode(self, x):
        return self.conv(x)

    def decode(self, z):
        return self.up(z).view(len(z), 1, 28, 28)


class Wide(nn.Module):
    """A model of 3x32x32 pictures (CIFAR-10's shape), explored on MNIST padded and repeated to it."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(3 * 32 * 32, 4), nn.Linear(4, 3 * 32 * 32)

    def encode(self, x):
        return self.enc(x.flatten(1))

    def decode(self, z):
        return self.dec(z).view(len(z), 3, 32, 32)


class ModelOutput(OrderedDict):
    """Like transformers' ModelOutput: a dict whose fields are also attributes."""

    def __getattr__(self, name):
        return self[name]


class VAE(Logits):
    """A VAE whose encoder gives (mu, logvar); the subclasses return its posterior in other forms."""

    def __init__(self):
        super().__init__()
        self.spread = nn.Linear(128, LATENT)

    def parts(self, x):
        h = self.body(x.view(len(x), -1))
        return self.head(h), self.spread(h)  # mu and a raw spread, read as each subclass's convention says

    def encode(self, x):
        return self.parts(x)

    def logvar(self, raw):
        return raw

    def own_loss(self, x):
        mu, raw = self.parts(x)
        logvar = self.logvar(raw)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="sum") / len(x)
        return recon + 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()


class ScaleVAE(VAE):  # (loc, scale), as probabilistic-programming examples return it
    def encode(self, x):
        mu, raw = self.parts(x)
        return mu, F.softplus(raw) + 1e-4

    def logvar(self, raw):
        return 2 * torch.log(F.softplus(raw) + 1e-4)


class VarianceVAE(VAE):
    def encode(self, x):
        mu, raw = self.parts(x)
        return mu, torch.exp(raw)


class DictVAE(VAE):
    def encode(self, x):
        mu, raw = self.parts(x)
        return {"mu": mu, "logvar": raw}


class OutputVAE(VAE):
    def encode(self, x):
        mu, raw = self.parts(x)
        return ModelOutput(mean=mu, log_var=raw)


class NormalVAE(ScaleVAE):
    def encode(self, x):
        mu, scale = super().encode(x)
        return torch.distributions.Normal(mu, scale)


class TripleVAE(VAE):  # (z, mu, logvar), as several tutorials' encoders return it
    def encode(self, x):
        mu, raw = self.parts(x)
        return mu + torch.randn_like(mu) * torch.exp(0.5 * raw), mu, raw


MODELS = {
    "probabilities": Probabilities,
    "logits": Logits,
    "tanh": Tanh,
    "standardised": Standardised,
    "submodules": Submodules,
    "scale_vae": ScaleVAE,
    "variance_vae": VarianceVAE,
    "dict_vae": DictVAE,
    "output_vae": OutputVAE,
    "normal_vae": NormalVAE,
    "triple_vae": TripleVAE,
    "spatial": Spatial,
}
for _name, _cls in MODELS.items():  # the entry points: functions of no arguments
    globals()[_name] = _cls


# name: (the flags that say its convention, what import finds or the one line it refuses with, a wrong flag and
# the line refusing it)
CASES = {
    "probabilities": (["--output", "probabilities"], "probabilities", ["--output", "logits"], "--output probabilities"),
    "logits": (["--output", "logits"], "logits", ["--output", "probabilities"], "--output logits"),
    "tanh": (["--output", "tanh", "--input", "signed"], "tanh", ["--output", "probabilities"], "--output tanh"),
    "standardised": (
        ["--input", "standardised", "--mean", "0.1307", "--std", "0.3081"],
        "import it with --input standardised --output logits --mean",
        ["--input", "unit"],
        "import it with --input standardised --mean",
    ),
    "submodules": ([], "probabilities", ["--output", "logits"], "--output probabilities"),
    "scale_vae": (["--posterior", "scale"], "scale", ["--posterior", "logvar"], "--posterior scale"),
    "variance_vae": (["--posterior", "variance"], "variance", ["--posterior", "logvar"], "--posterior variance"),
    "dict_vae": ([], "logvar", ["--posterior", "scale"], "--posterior logvar"),
    "output_vae": ([], "logvar", ["--posterior", "variance"], "--posterior logvar"),
    "normal_vae": ([], "scale", ["--posterior", "logvar"], "--posterior scale"),
    "triple_vae": ([], "logvar", ["--posterior", "scale"], "--posterior logvar"),
    "spatial": ([], "logits", ["--output", "probabilities"], "--output logits"),
}


def imported(name: str, weights, out, *flags: str) -> tuple[int, str, str]:
    """`python -m aelab import convention_models:NAME`: its exit code, what it printed and its error line."""
    printed, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(err):
        code = main(["import", f"convention_models:{name}", str(weights), "--out", str(out), *flags])
    return code, printed.getvalue(), err.getvalue()


def train_all(images: torch.Tensor, folder: Path, steps: int = 400, names: tuple[str, ...] = ()) -> dict[str, Path]:
    """Each model (or those `names`) trained `steps` batches of 64 (or its own `steps`) with its own loss, its
    weights written to `folder`."""
    written = {}
    for name, cls in MODELS.items():
        if names and name not in names:
            continue
        torch.manual_seed(0)
        model = cls()
        optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
        for step in range(getattr(cls, "steps", steps)):
            batch = images[(step * 64) % (len(images) - 64) :][:64]
            loss = model.own_loss(batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        written[name] = folder / f"{name}.safetensors"
        save_file(model.state_dict(), written[name])
    return written


def train_kl(images: torch.Tensor, folder: Path, steps: int = 120) -> Path:
    """A small diffusers AutoencoderKL (spatial codes 2x14x14, pixels in [-1, 1]) trained `steps` batches of 32
    with latent diffusion's loss (MSE and a small KL; the posterior's mode decoded, to learn in few steps), written
    by its own save_pretrained to `folder`."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    model = AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 8),
        layers_per_block=1,
        latent_channels=2,
        norm_num_groups=4,
        sample_size=28,
        mid_block_add_attention=False,
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        x = images[(step * 32) % (len(images) - 32) :][:32] * 2 - 1
        posterior = model.encode(x).latent_dist
        loss = F.mse_loss(model.decode(posterior.mode()).sample, x) + 1e-6 * posterior.kl().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.save_pretrained(folder)
    return folder
