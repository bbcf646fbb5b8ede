"""What a model is, as a checkpoint's header describes it: names, titles, defaults, limits and ModelConfig.

Free of torch, so that the app lists models, shows their cards and draws the first latent map
from the disk cache before torch is imported (two seconds); aelab.models builds the networks.
"""

from __future__ import annotations

import json
import math
import numbers
import reprlib
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Kind:
    """One registered model: how people call it, whether it is a VAE, and its published defaults."""

    title: str
    variational: bool
    mlp: bool  # fully connected: `widths` are hidden sizes and there is no `hidden` layer around the latent
    defaults: dict


KINDS = {
    "conv_ae": Kind("Convolutional autoencoder", False, False, {"latent_dim": 32, "widths": (32, 64, 128)}),
    "vae": Kind("MLP VAE", True, True, {"latent_dim": 20, "widths": (256, 256)}),
    "conv_vae": Kind("Convolutional VAE", True, False, {"latent_dim": 20, "widths": (32, 64, 128), "hidden": 256}),
}
MODEL_TITLES = {name: kind.title for name, kind in KINDS.items()}
# Activations by name, with the torch.nn class of each (aelab.models looks them up there).
ACTIVATION_CLASSES = {"silu": "SiLU", "relu": "ReLU", "elu": "ELU"}
LOGVAR_MIN, LOGVAR_MAX = -10.0, 10.0  # a VAE's log-variance is clamped here: keeps exp(logvar) finite early in training
# Limits on a config, far above any model here (latents of 20-32, layers of 32-256 units): a
# checkpoint's header is untrusted, and one asking for widths of 200,000 is refused before it is built.
MAX_LATENT_DIM = 4096
MAX_WIDTH = 16384  # each conv channel count, MLP hidden size and `hidden`
MAX_LAYERS = 16  # entries in `widths`
# The images a model takes: (channels, side, side). 1 or 3 channels (gray or RGB); sides from 8 to 256 px
# (28: MNIST, 32: CIFAR-10, 64: CelebA and shapes). Checkpoints from before these fields were 1x28x28.
CHANNELS = (1, 3)
MIN_SIDE, MAX_SIDE = 8, 256
DIGIT_SHAPE = (1, 28, 28)  # MNIST's: the shape of every model before colour, and the digit recipe's output
CONV_FINAL_SIDE = 4  # the conv models halve the picture until it is at most this wide
CONV_FIRST_WIDTH = 32  # their default widths start here and double per layer: 28 and 32 px get (32, 64, 128)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model: stored in every checkpoint as JSON."""

    name: str = "conv_ae"
    latent_dim: int = 32
    widths: tuple[int, ...] = (32, 64, 128)  # conv channels or MLP hidden sizes
    beta: float = 1.0  # weight of the KL term (VAEs); > 1 gives a beta-VAE
    recon: str = "bce"  # "bce" (Bernoulli, logits) or "mse" (on sigmoid outputs)
    activation: str = "silu"  # between layers; SiLU trains stably at learning rates where ReLU VAEs collapse
    hidden: int = 0  # conv models: a fully connected layer of this size each side of the latent (0 = none)
    channels: int = DIGIT_SHAPE[0]  # of the images: 1 (gray) or 3 (RGB)
    side: int = DIGIT_SHAPE[1]  # the images are side x side pixels

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in KINDS:
            raise ValueError(f"Unknown model {reprlib.repr(self.name)}; known: {', '.join(KINDS)}")
        if not isinstance(self.activation, str) or self.activation not in ACTIVATION_CLASSES:
            raise ValueError(f"Unknown activation {reprlib.repr(self.activation)}; "
                             f"known: {', '.join(ACTIVATION_CLASSES)}")
        if self.recon not in ("bce", "mse"):
            raise ValueError(f"recon must be 'bce' or 'mse', not {reprlib.repr(self.recon)}")
        if not isinstance(self.widths, (list, tuple)) or not 1 <= len(self.widths) <= MAX_LAYERS:
            raise ValueError(f"widths must be a list of 1 to {MAX_LAYERS} layer sizes, not {reprlib.repr(self.widths)}")
        self.widths = tuple(_bounded("each width", w, 1, MAX_WIDTH) for w in self.widths)
        self.latent_dim = _bounded("latent_dim", self.latent_dim, 1, MAX_LATENT_DIM)
        self.hidden = _bounded("hidden", self.hidden, 0, MAX_WIDTH)
        if isinstance(self.beta, bool) or not isinstance(self.beta, numbers.Real) or not 0 <= self.beta < math.inf:
            raise ValueError(f"beta must be a finite number >= 0, not {reprlib.repr(self.beta)}")
        if self.hidden and KINDS[self.name].mlp:
            raise ValueError("hidden is for the conv models; the MLP VAE's hidden layers are its widths")
        if _bounded("channels", self.channels, 1, 3) not in CHANNELS:
            raise ValueError(f"channels must be 1 (gray) or 3 (RGB), not {reprlib.repr(self.channels)}")
        self.channels = int(self.channels)
        self.side = _bounded("side", self.side, MIN_SIDE, MAX_SIDE)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, side, side): what the model takes and its decoder gives."""
        return self.channels, self.side, self.side

    @classmethod
    def for_model(cls, name: str, **overrides) -> ModelConfig:
        """The published defaults of `name`, with any field overridden (None keeps the default).

        A conv model's default widths follow `side` (`conv_widths`): three layers at 28 and 32 px,
        four at 64, so every picture is brought down to 4x4 before the latent."""
        if name not in KINDS:
            raise ValueError(f"Unknown model {name!r}; known: {', '.join(KINDS)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        values = {**KINDS[name].defaults, **given}
        if not KINDS[name].mlp and "widths" not in given:
            values["widths"] = conv_widths(_bounded("side", given.get("side", cls.side), MIN_SIDE, MAX_SIDE))
        return cls(name=name, **values)

    def to_dict(self) -> dict:
        return asdict(self) | {"widths": list(self.widths)}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        if not isinstance(data, dict):
            raise ValueError(f"a model config is a JSON object of fields, not {reprlib.repr(data)}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown model config fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))


def conv_sides(side: int, layers: int) -> list[int]:
    """The picture's side after each of `layers` 3x3 stride-2 convolutions (padding 1): 28 -> 14 -> 7 -> 4."""
    sides = [side]
    for _ in range(layers):
        sides.append((sides[-1] + 1) // 2)
    return sides


def conv_widths(side: int) -> tuple[int, ...]:
    """Default conv channel widths for `side`: one layer per halving down to CONV_FINAL_SIDE, doubling from
    CONV_FIRST_WIDTH (28 -> (32, 64, 128), the seed's; 64 -> (32, 64, 128, 256))."""
    layers = 1
    while conv_sides(side, layers)[-1] > CONV_FINAL_SIDE:
        layers += 1
    return tuple(CONV_FIRST_WIDTH * 2**i for i in range(layers))


def _bounded(what: str, value: object, low: int, high: int) -> int:
    """`value` if it is a whole number in [low, high]: floats, strings and booleans from a
    header are refused, not converted, so a config means exactly what its JSON says."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high:,}, not {reprlib.repr(value)}")
    return int(value)


def describe(config: ModelConfig) -> str:
    """A one-line human description, e.g. 'MLP VAE, 20-d latent, beta 4'."""
    text = f"{MODEL_TITLES[config.name]}, {config.latent_dim}-d latent"
    if config.image_shape != DIGIT_SHAPE:
        text += f", {shape_text(config.image_shape)}"
    if KINDS[config.name].variational and not math.isclose(config.beta, 1.0):
        text += f", beta {config.beta:g}"
    if config.activation != ModelConfig.activation:
        text += f", {ACTIVATION_CLASSES[config.activation]}"
    return text


def shape_text(shape: tuple[int, ...]) -> str:
    """An image shape as people write it: '3x64x64 RGB', '1x28x28 gray'."""
    return "x".join(map(str, shape)) + (" RGB" if shape[0] == 3 else " gray")
