"""An own model's conventions, applied (aelab.models.own): the pixels its code takes, its decode's output as aelab's
logits, and its posterior read from whatever its authors return.

aelab's models take pixels in [0, 1] and give logits; a published model may take [-1, 1] or standardised pixels,
give probabilities or a tanh's [-1, 1], and return its posterior as a tuple, a dict or `ModelOutput`, a
`torch.distributions.Normal` or a `(z, mu, logvar)` triple, its spread a log-variance, a variance or a scale. The
settings (OwnModelConfig's `inputs`, `output`, `posterior`, `mean`, `std`) say which; these functions convert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from aelab.models.config import LOGVAR_MAX, LOGVAR_MIN, POSTERIORS, OwnModelConfig

PROBABILITY_FLOOR = 1e-6  # probabilities are clamped to [floor, 1 - floor] before their logits are taken
# What a VAE may return, in every message that refuses what one returned.
VAE_RETURNS = (
    "a VAE's encode returns (mu, logvar), each (B, D), or a dict or ModelOutput with mu and logvar (or scale), "
    "or a torch.distributions.Normal"
)
MEAN_NAMES = ("mu", "mean", "loc", "z_mean", "means")
# A field's name says what the spread is; a bare tuple's second tensor is what the `posterior` setting says.
SPREAD_NAMES = {
    **dict.fromkeys(("logvar", "log_var", "logvariance", "log_variance", "z_log_var"), POSTERIORS[0]),
    **dict.fromkeys(("var", "variance"), POSTERIORS[1]),
    **dict.fromkeys(("scale", "std", "sigma", "stddev"), POSTERIORS[2]),
}
NESTED_NAMES = ("latent_dist", "posterior", "dist")  # diffusers' AutoencoderKLOutput keeps its posterior here


@dataclass(frozen=True)
class Encoded:
    """What an encoder returned, read: its codes (a VAE's means) and a VAE's spread, with what the spread's name
    says it is (None for a bare tuple)."""

    codes: torch.Tensor
    spread: torch.Tensor | None = None
    kind: str | None = None


def read_encoded(out: object) -> Encoded | None:
    """`out` as codes, or a VAE's mean and spread; None when it is none of the forms this module knows."""
    if isinstance(out, torch.Tensor):
        return Encoded(out)
    if isinstance(out, torch.distributions.Independent):
        out = out.base_dist
    if isinstance(out, torch.distributions.Normal):
        return Encoded(out.loc, out.scale, POSTERIORS[2])
    if isinstance(out, (tuple, list)) and all(isinstance(part, torch.Tensor) for part in out):
        if len(out) == 1:
            return Encoded(out[0])
        if len(out) == 2:
            return Encoded(out[0], out[1])
        if len(out) == 3 and len({part.shape for part in out}) == 1:  # (z, mu, logvar): the sample is set aside
            return Encoded(out[1], out[2])
        return None
    fields = _fields(out)
    for name in NESTED_NAMES:
        if name in fields and not isinstance(fields[name], torch.Tensor):
            return read_encoded(fields[name])
    tensors = {name: value for name, value in fields.items() if isinstance(value, torch.Tensor)}
    means = [tensors[name] for name in MEAN_NAMES if name in tensors]
    spreads = [(tensors[name], kind) for name, kind in SPREAD_NAMES.items() if name in tensors]
    if not means:
        return None
    return Encoded(means[0], *spreads[0]) if spreads else Encoded(means[0])


def _fields(out: object) -> dict[str, object]:
    """A dict's (and ModelOutput's, a dict) items, or an object's attributes of the names this module knows."""
    if isinstance(out, Mapping):
        return {str(k): v for k, v in out.items()}
    names = (*MEAN_NAMES, *SPREAD_NAMES, *NESTED_NAMES)
    found = {}
    for name in names:
        try:
            found[name] = getattr(out, name)
        except Exception:  # a property of the operator's object may raise: then it has no such field
            continue
    return found


def to_logvar(spread: torch.Tensor, kind: str) -> torch.Tensor:
    """A spread of `kind` (a POSTERIORS name) as aelab's clamped log-variance; a variance or scale below zero is
    NaN, which the caller's finiteness check reports."""
    if kind == POSTERIORS[1]:
        spread = spread.log()
    elif kind == POSTERIORS[2]:
        spread = 2 * spread.log()
    return spread.clamp(LOGVAR_MIN, LOGVAR_MAX)


def _stats(config: OwnModelConfig, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The config's mean and std as (1, C, 1, 1) tensors (one value broadcast over the channels)."""
    shape = (1, -1, 1, 1)
    return (
        torch.tensor(config.mean, dtype=like.dtype).reshape(shape),
        torch.tensor(config.std, dtype=like.dtype).reshape(shape),
    )


def network_input(x: torch.Tensor, config: OwnModelConfig) -> torch.Tensor:
    """Images (B, C, H, W) in [0, 1] as the network takes them: rescaled or standardised, flattened if it is flat."""
    if config.inputs == "signed":
        x = x * 2 - 1
    elif config.inputs == "standardised":
        mean, std = _stats(config, x)
        x = (x - mean) / std
    return x.flatten(1) if config.flat else x


def pixels(out: torch.Tensor, config: OwnModelConfig) -> torch.Tensor:
    """A decode's output (B, C, H, W) as pixel values, [0, 1] when it keeps its convention (not clamped)."""
    if config.output == "logits":
        return torch.sigmoid(out)
    if config.output == "tanh":
        return (out + 1) / 2
    if config.output == "standardised":
        mean, std = _stats(config, out)
        return out * std + mean
    return out


# What a decode of these outputs can give: a sigmoid's, and [-1, 1] pixels with a margin, since a decoder trained
# on them without a final tanh (latent diffusion's) strays a little past it (clamped); a trained model's logits
# go far past it, so they are never read as [-1, 1].
RANGES = {"probabilities": (0.0, 1.0), "tanh": (-2.0, 2.0)}
RECON_NAMES = ("recon", "reconstruction", "x_hat", "x_recon", "sample", "output")  # an output object's image field


def read_decoded(out: object) -> object:
    """The image in what a decode or forward returned: a tensor, a tuple's first, or a field named for it
    (diffusers' DecoderOutput.sample); `out` itself when there is none, for the caller's message."""
    if isinstance(out, (tuple, list)) and out:
        return read_decoded(out[0])
    if isinstance(out, torch.Tensor):
        return out
    fields = out if isinstance(out, Mapping) else {name: getattr(out, name, None) for name in RECON_NAMES}
    return next((fields[name] for name in RECON_NAMES if isinstance(fields.get(name), torch.Tensor)), out)


def out_of_range(out: torch.Tensor, output: str) -> bool:
    """Whether a decode's output has values that `output` cannot give (a sigmoid's or a tanh's)."""
    low, high = RANGES.get(output, (-torch.inf, torch.inf))
    return bool(out.min() < low or out.max() > high)


def to_logits(out: torch.Tensor, config: OwnModelConfig) -> torch.Tensor:
    """A decode's output (B, C, H, W) as aelab's logits: the logit of its pixels, clamped to the floor."""
    if config.output == "logits":
        return out
    return torch.logit(pixels(out, config).clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR))
