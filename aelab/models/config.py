"""What a model is, as a checkpoint's header describes it: names, titles, defaults, limits, ModelConfig
for aelab's own models and OwnModelConfig for a model of the operator's own code (aelab.models.own).

Plain data that round-trips through JSON; aelab.models.autoencoders builds the networks from it.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import reprlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from aelab.settings import current, variable


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
# Activations by name, with the torch.nn class of each (aelab.models.autoencoders looks them up there).
ACTIVATION_CLASSES = {"silu": "SiLU", "relu": "ReLU", "elu": "ELU"}
RECONS = ("bce", "mse")  # the reconstruction losses a model can be trained with (ModelConfig.recon)
# What a VAE's beta weighs (ModelConfig.objective): the whole KL (Higgins et al. 2017), or only its total
# correlation term (Chen et al. 2018), the rest of the KL kept at weight 1.
OBJECTIVES = ("beta_vae", "beta_tcvae")
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
    """Everything needed to rebuild a model: stored in every checkpoint as JSON. A field with a "help" in its
    metadata is also a `train` flag (aelab.training.flags reads it)."""

    name: str = field(
        default="conv_ae",
        metadata={
            "flag": "--model",
            "choices": tuple(KINDS),
            "always": True,
            "help": "the kind of model (default %(default)s)",
        },
    )
    latent_dim: int = field(default=32, metadata={"help": "default: the model's (32 conv_ae, 20 VAEs)"})
    widths: tuple[int, ...] = field(default=(32, 64, 128), metadata={"help": "conv channels or MLP hidden sizes"})
    beta: float = field(default=1.0, metadata={"help": "KL weight for VAEs (beta > 1: beta-VAE)"})
    recon: str = field(
        default="bce",
        metadata={
            "choices": RECONS,
            "help": "reconstruction loss: bce (Bernoulli, on logits) or mse (on sigmoid outputs); default %(default)s",
        },
    )
    objective: str = field(
        default=OBJECTIVES[0],
        metadata={
            "choices": OBJECTIVES,
            "help": "VAEs: beta_vae weighs the whole KL by beta; beta_tcvae only its total correlation "
            "(default %(default)s)",
        },
    )
    # SiLU trains stably at learning rates where ReLU VAEs collapse
    activation: str = field(
        default="silu", metadata={"choices": tuple(ACTIVATION_CLASSES), "help": "between layers (default %(default)s)"}
    )
    hidden: int = field(
        default=0,
        metadata={
            "help": "conv models: a fully connected layer of this size each side "
            "of the latent, 0 for none (default 256 conv_vae, 0 conv_ae)"
        },
    )
    channels: int = DIGIT_SHAPE[0]  # of the images: 1 (gray) or 3 (RGB)
    side: int = DIGIT_SHAPE[1]  # the images are side x side pixels

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in KINDS:
            raise ValueError(f"Unknown model {reprlib.repr(self.name)}; known: {', '.join(KINDS)}")
        if not isinstance(self.activation, str) or self.activation not in ACTIVATION_CLASSES:
            raise ValueError(
                f"Unknown activation {reprlib.repr(self.activation)}; known: {', '.join(ACTIVATION_CLASSES)}"
            )
        if not isinstance(self.widths, (list, tuple)) or not 1 <= len(self.widths) <= MAX_LAYERS:
            raise ValueError(f"widths must be a list of 1 to {MAX_LAYERS} layer sizes, not {reprlib.repr(self.widths)}")
        self.widths = tuple(_bounded("each width", w, 1, MAX_WIDTH) for w in self.widths)
        self.hidden = _bounded("hidden", self.hidden, 0, MAX_WIDTH)
        if self.hidden and KINDS[self.name].mlp:
            raise ValueError("hidden is for the conv models; the MLP VAE's hidden layers are its widths")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {reprlib.repr(self.objective)}")
        if self.objective != OBJECTIVES[0] and not KINDS[self.name].variational:
            raise ValueError(f"objective {self.objective} is for VAEs; {self.name} has no KL term")
        _check_shared(self)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, side, side): what the model takes and its decoder gives."""
        return self.channels, self.side, self.side

    @property
    def variational(self) -> bool:
        return KINDS[self.name].variational

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
    def from_dict(cls, data: object) -> ModelConfig:
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


OWN_MODEL = "own"  # a header's model name for OwnModelConfig
OWN_MODEL_TITLE = "Your own model"
# An own model's conventions (aelab.models.conventions applies them), each a setting its header records; the first
# of each is aelab's own. What its decode gives: logits, probabilities (after a sigmoid), [-1, 1] (after a tanh), or
# pixels standardised by the input's mean and std;
OUTPUTS = ("logits", "probabilities", "tanh", "standardised")
# what its encode takes: pixels in [0, 1], in [-1, 1], or (x - mean) / std per channel;
INPUTS = ("unit", "signed", "standardised")
# what a VAE's second encoder output is: a log-variance, a variance, or a scale (standard deviation).
POSTERIORS = ("logvar", "variance", "scale")
DIFFUSERS_PREFIX = (
    "diffusers:"  # an entry point naming diffusers' AutoencoderKL: diffusers:FOLDER (aelab.models.diffusers_kl)
)
# module:function (dotted names), /path/to/file.py:function, or diffusers:FOLDER
_ENTRY = re.compile(r"^(?:(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*|[^,]+\.py):[A-Za-z_]\w*|diffusers:[^,]+)$")


class EntryPointError(ValueError):
    """An own model's code cannot be used: not allowed, not importable, or it raised or gave wrong outputs."""


@dataclass
class OwnModelConfig:
    """A model built by the operator's own code: the entry point that builds it (never called unless the
    operator allows it, `allowed_entry_points`) and what aelab checked of it when it was imported."""

    entry: str  # "package.module:function" or "/abs/path/file.py:function"; the function takes no arguments
    latent_dim: int
    variational: bool  # it has a posterior (mu, log-variance)
    channels: int = DIGIT_SHAPE[0]
    side: int = DIGIT_SHAPE[1]
    flat: bool = False  # its encode takes (B, C*H*W) vectors and its decode may give them
    output: str = OUTPUTS[0]
    inputs: str = INPUTS[0]
    mean: tuple[float, ...] = ()  # per channel, for standardised inputs or outputs (one value: every channel)
    std: tuple[float, ...] = ()
    posterior: str = POSTERIORS[0]
    code_shape: tuple[int, ...] = ()  # spatial codes (C, h, w), flattened to latent_dim numbers; () for (B, D) codes
    recon: str = "bce"
    beta: float = 1.0  # the weight of the KL term in its loss, as aelab computes it
    name: str = OWN_MODEL

    def __post_init__(self) -> None:
        if self.name != OWN_MODEL:
            raise ValueError(f"an own model's name is {OWN_MODEL!r}, not {reprlib.repr(self.name)}")
        if not isinstance(self.entry, str) or not _ENTRY.match(self.entry):
            raise ValueError(
                f"entry must read module:function or path/to/file.py:function, not {reprlib.repr(self.entry)}"
            )
        for flag in ("variational", "flat"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be true or false, not {reprlib.repr(getattr(self, flag))}")
        for name, choices in (("output", OUTPUTS), ("inputs", INPUTS), ("posterior", POSTERIORS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {reprlib.repr(getattr(self, name))}")
        _check_shared(self)
        standardised = "standardised" in (self.inputs, self.output)
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)) or any(
                isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) for v in values
            ):
                raise ValueError(f"{name} must be a list of finite numbers, not {reprlib.repr(values)}")
            if standardised and len(values) not in (1, self.channels):
                raise ValueError(f"standardised pixels need a {name} of 1 or {self.channels} values, not {len(values)}")
            if not standardised and values:
                raise ValueError(f"{name} is for standardised inputs or outputs only")
            setattr(self, name, tuple(float(v) for v in values))
        if any(v <= 0 for v in self.std):
            raise ValueError(f"std must be positive, not {self.std}")
        if not isinstance(self.code_shape, (list, tuple)) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in self.code_shape
        ):
            raise ValueError(f"code_shape must be a list of sizes, not {reprlib.repr(self.code_shape)}")
        self.code_shape = tuple(self.code_shape)
        if self.code_shape and math.prod(self.code_shape) != self.latent_dim:
            raise ValueError(f"code_shape {self.code_shape} does not hold latent_dim {self.latent_dim} numbers")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.channels, self.side, self.side

    def to_dict(self) -> dict:
        return asdict(self) | {"mean": list(self.mean), "std": list(self.std), "code_shape": list(self.code_shape)}

    @classmethod
    def from_dict(cls, data: object) -> OwnModelConfig:
        if not isinstance(data, dict):
            raise ValueError(f"a model config is a JSON object of fields, not {reprlib.repr(data)}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"Unknown own model config fields: {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as err:  # a required field missing
            raise ValueError(str(err)) from None


def _check_shared(config: ModelConfig | OwnModelConfig) -> None:
    """The fields aelab's models and own models share, checked (and made plain ints) by one set of rules."""
    if config.recon not in RECONS:
        raise ValueError(f"recon must be 'bce' or 'mse', not {reprlib.repr(config.recon)}")
    config.latent_dim = _bounded("latent_dim", config.latent_dim, 1, MAX_LATENT_DIM)
    if isinstance(config.beta, bool) or not isinstance(config.beta, numbers.Real) or not 0 <= config.beta < math.inf:
        raise ValueError(f"beta must be a finite number >= 0, not {reprlib.repr(config.beta)}")
    if _bounded("channels", config.channels, 1, 3) not in CHANNELS:
        raise ValueError(f"channels must be 1 (gray) or 3 (RGB), not {reprlib.repr(config.channels)}")
    config.channels = int(config.channels)
    config.side = _bounded("side", config.side, MIN_SIDE, MAX_SIDE)


def from_header(data: object) -> ModelConfig | OwnModelConfig:
    """The model a checkpoint header's "model" object describes: one of aelab's, or an own model's."""
    if isinstance(data, dict) and data.get("name") == OWN_MODEL:
        return OwnModelConfig.from_dict(data)
    return ModelConfig.from_dict(data)


def allowed_entry_points() -> tuple[str, ...]:
    """The entry points the operator allows (aelab.settings' `entry_points`): the only code a checkpoint may have
    aelab run. A header naming any other is refused before anything is imported."""
    return tuple(canonical_entry(entry) for entry in current().entry_points)


_named_here: set[str] = set()  # entry points the operator named on a command that is running (`allowing`)


@contextmanager
def allowing(entry: str) -> Iterator[None]:
    """Allow `entry` while the block runs: the CLI's `import`, whose operator has just named it."""
    entry = canonical_entry(entry)
    added = entry not in _named_here
    _named_here.add(entry)
    try:
        yield
    finally:
        if added:
            _named_here.discard(entry)


def require_allowed(entry: str) -> None:
    """Raise EntryPointError unless the operator allows `entry`: checked before anything is imported."""
    if canonical_entry(entry) not in (*allowed_entry_points(), *_named_here):
        raise EntryPointError(
            f"it runs the code {entry}, which this aelab does not allow: an operator who trusts it "
            f"starts aelab with {variable('entry_points')}={entry}"
        )


def canonical_entry(entry: str) -> str:
    """An entry point as aelab stores and compares it: a file's or folder's path made absolute, the rest as written."""
    entry = entry.strip()
    if entry.startswith(DIFFUSERS_PREFIX):
        source = entry[len(DIFFUSERS_PREFIX) :]
        local = Path(source).expanduser()
        return DIFFUSERS_PREFIX + (str(local.resolve()) if local.is_dir() else source)
    where, _, name = entry.rpartition(":")
    if where.endswith(".py"):
        where = str(Path(where).expanduser().resolve())
    return f"{where}:{name}"


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
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high:,}, not {reprlib.repr(value)}")
    return int(value)


def describe(config: ModelConfig | OwnModelConfig) -> str:
    """A one-line human description, e.g. 'MLP VAE, 20-d latent, beta 4'."""
    if isinstance(config, OwnModelConfig):
        kind = "VAE" if config.variational else "autoencoder"
        where, _, function = config.entry.rpartition(":")
        entry = f"{Path(where).name}:{function}"  # a file by its name: the card has no room for its folder
        return f"{OWN_MODEL_TITLE} ({kind}, {entry}), {config.latent_dim}-d latent, {shape_text(config.image_shape)}"
    text = f"{MODEL_TITLES[config.name]}, {config.latent_dim}-d latent"
    if config.image_shape != DIGIT_SHAPE:
        text += f", {shape_text(config.image_shape)}"
    if config.objective != OBJECTIVES[0]:
        text += f", beta-TCVAE (TC weight {config.beta:g})"
    elif KINDS[config.name].variational and not math.isclose(config.beta, 1.0):
        text += f", beta {config.beta:g}"
    if config.activation != ModelConfig.activation:
        text += f", {ACTIVATION_CLASSES[config.activation]}"
    return text


CONVENTION_TEXTS = {
    "output": dict(zip(OUTPUTS, ("logits", "probabilities", "[-1, 1] (tanh)", "standardised pixels"))),
    "inputs": dict(zip(INPUTS, ("[0, 1]", "[-1, 1]", "standardised"))),
    "posterior": dict(zip(POSTERIORS, ("log-variance", "variance", "scale"))),
}


def conventions_text(config: OwnModelConfig) -> str:
    """An own model's conventions in a line, as the model card says them: 'takes [-1, 1], gives [-1, 1] (tanh)'."""
    standardised = f" (mean {', '.join(f'{v:g}' for v in config.mean)}, std {', '.join(f'{v:g}' for v in config.std)})"
    text = f"takes {'flat ' if config.flat else ''}{CONVENTION_TEXTS['inputs'][config.inputs]}"
    if config.code_shape:
        text = f"codes {'x'.join(map(str, config.code_shape))} (flattened), " + text
    text += standardised if config.inputs == "standardised" else ""
    text += f", gives {CONVENTION_TEXTS['output'][config.output]}"
    return text + (f", posterior {CONVENTION_TEXTS['posterior'][config.posterior]}" if config.variational else "")


def shape_text(shape: tuple[int, ...]) -> str:
    """An image shape as people write it: '3x64x64 RGB', '1x28x28 gray'."""
    return "x".join(map(str, shape)) + (" RGB" if shape[0] == 3 else " gray")
