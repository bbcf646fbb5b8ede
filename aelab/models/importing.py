"""Importing an own model as its authors wrote it: its conventions found from real images, or one line naming the
flag that says them, and a check that aelab's reconstructions are the model's own.

A trained model reveals its conventions: read the right way, its decode of its codes reconstructs the images it
was given; read any other way (logits taken for probabilities, [-1, 1] for [0, 1], pixels given in the wrong
range), it does not. So every reading the operator left open is tried on real test images, and the one that
reconstructs them is recorded when it stands out; a reading the operator named that another clearly beats is
refused, naming the other.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from aelab.models.config import INPUTS, OUTPUTS, POSTERIORS, EntryPointError, OwnModelConfig, canonical_entry
from aelab.models.conventions import (
    PROBABILITY_FLOOR,
    VAE_RETURNS,
    network_input,
    out_of_range,
    pixels,
    read_decoded,
    read_encoded,
)
from aelab.models.own import OwnModel, check, encoder_of, load_network

IMAGES = 256  # real test images the readings are tried on and the reconstructions compared over
# A reading's skill is the share of the pixel MSE of the data's mean image it removes (0: no better than drawing
# the mean image, 1: exact). A reading reconstructs when its skill is at least GOOD, and stands out when no other
# that reconstructs comes within CLEAR times its MSE: a wrong reading's skill is near 0 or below, or its MSE twice
# the right one's and more.
GOOD = 0.2
CLEAR = 1.5
ELBO_SAMPLES = 4  # reparameterisation draws the posterior readings' ELBO is averaged over
# aelab's reconstruction and the model's own agree to this, in pixels: both are float32 computations of the same
# network on the same input; different CPUs' kernels sum in other orders (about 1e-6 relative) and the
# logit-sigmoid round trip of a probability output loses about as much, so 1e-4 holds on any CPU while a wrong
# convention misses it by orders of magnitude (a display step is 1/255, about 4e-3)
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Choices:
    """What the operator said on the command line; None leaves it to be found."""

    flat: bool | None = None
    output: str | None = None
    inputs: str | None = None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    posterior: str | None = None


@dataclass
class Imported:
    """The model, and the lines `import` prints: what was found, and the reconstruction check."""

    model: OwnModel
    notes: list[str] = field(default_factory=list)
    check: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Reading:
    inputs: str
    output: str
    mse: float
    skill: float


def flags(config: OwnModelConfig, axes: tuple[str, ...] = ("inputs", "output", "posterior", "flat")) -> str:
    """The command-line flags that say `config`'s conventions on `axes`."""
    parts = []
    for axis in axes:
        if axis == "flat":
            parts += ["--flat"] if config.flat else []
        elif axis != "posterior" or config.variational:
            parts.append(f"--{axis.rstrip('s') if axis == 'inputs' else axis} {getattr(config, axis)}")
    if "standardised" in (config.inputs, config.output) and {"inputs", "output"} & set(axes):
        parts.append(
            f"--mean {' '.join(f'{v:.4g}' for v in config.mean)} --std {' '.join(f'{v:.4g}' for v in config.std)}"
        )
    return " ".join(parts)


def import_model(entry: str, weights: str | Path, images: torch.Tensor, choices: Choices = Choices()) -> Imported:
    """The operator's network with its weights, its conventions found on `images` (real test images (N, C, H, W)
    in [0, 1] of the data it takes), checked. EntryPointError names what is wrong, or the flag to give."""
    if "standardised" in (choices.inputs, choices.output) and not (choices.mean and choices.std):
        raise EntryPointError(f"{entry}: standardised pixels need the --mean and --std its training used")
    net = load_network(entry, weights)
    x = images[:IMAGES].contiguous()
    with torch.no_grad():
        config = _shape_of(entry, net, x, choices)
        config, notes = _readings(OwnModel(config, net), x, choices)
        if config.variational:
            config = _posterior(OwnModel(config, net), x, choices)
        model = OwnModel(config, net)
        check(model)
        report = reconstruction_check(model, x)
    if report["difference"] > TOLERANCE:
        raise EntryPointError(
            f"{entry}: aelab's reconstructions of {report['images']} test images differ from {report['against']} "
            f"by up to {report['difference']:.3g}: {report['against']} does more than decode(encode(x))"
        )
    notes.append(
        f"check: aelab's reconstructions of {report['images']} test images equal {report['against']} "
        f"to {report['difference']:.1e} (tolerance {TOLERANCE:g})"
    )
    return Imported(model, notes, report)


def _shape_of(entry: str, net: nn.Module, x: torch.Tensor, choices: Choices) -> OwnModelConfig:
    """Its latent size, whether it is a VAE and whether it takes flattened vectors, from its encoder on x."""
    _, what = encoder_of(net)
    errors = []
    for flat in (False, True) if choices.flat is None else (choices.flat,):
        base = OwnModelConfig(canonical_entry(entry), 1, False, x.shape[1], x.shape[2], flat=flat)
        if choices.inputs == "standardised":  # its stats, so the probe gives it what it takes
            base = replace(base, inputs="standardised", mean=choices.mean, std=choices.std)
        method, _ = encoder_of(net)
        probe = x[:8]
        try:
            out = method(network_input(probe, base))
        except Exception as err:  # the operator's code: what it raises is reported, with each input tried
            errors.append(
                f"on {'flattened (B, C*H*W) vectors' if flat else f'images {tuple(x.shape[1:])}'}: "
                f"{type(err).__name__}: {err}"
            )
            continue
        read = read_encoded(out)
        if read is None:
            raise EntryPointError(
                f"{entry}: its {what} gave a {type(out).__name__}; an autoencoder's encode returns codes (B, D), "
                f"and {VAE_RETURNS}"
            )
        if read.codes.ndim < 2 or len(read.codes) != len(probe):
            raise EntryPointError(
                f"{entry}: its {what} gave codes of shape {tuple(read.codes.shape)} for {len(probe)} images; "
                f"it should give one code per image, ({len(probe)}, D) or spatial ({len(probe)}, C, h, w)"
            )
        spatial = tuple(read.codes.shape[1:]) if read.codes.ndim > 2 else ()
        return replace(base, latent_dim=read.codes[0].numel(), variational=read.spread is not None, code_shape=spatial)
    raise EntryPointError(f"{entry}: its {what} raised {'; '.join(errors)}")


def _readings(model: OwnModel, x: torch.Tensor, choices: Choices) -> tuple[OwnModelConfig, list[str]]:
    """The config with the input and output readings that reconstruct x, or EntryPointError naming the flags."""
    base, notes = model.config, []
    stats = (choices.mean, choices.std) if choices.mean else _data_stats(x)
    inputs = (choices.inputs,) if choices.inputs else INPUTS
    outputs = (choices.output,) if choices.output else OUTPUTS
    readings = []
    baseline = float((x - x.mean(0)).pow(2).mean())
    for i, o in itertools.product(INPUTS, OUTPUTS):
        if o == "standardised" and i != "standardised":  # pixels standardised out, never in: no such training
            continue
        standardised = "standardised" in (i, o)
        config = replace(
            base, inputs=i, output=o, mean=stats[0] if standardised else (), std=stats[1] if standardised else ()
        )
        candidate = OwnModel(config, model.network)
        try:
            out = candidate.own_output(candidate.encode(x))
        except EntryPointError:
            if i in inputs and o in outputs:
                raise
            continue
        if out_of_range(out, o):
            continue
        mse = float((pixels(out, config).clamp(0, 1) - x).pow(2).mean())
        readings.append((_Reading(i, o, mse, 1 - mse / baseline), config))
    readings.sort(key=lambda r: r[0].mse)
    allowed = [r for r in readings if r[0].inputs in inputs and r[0].output in outputs]
    best = readings[0] if readings and readings[0][0].skill >= GOOD else None
    if not allowed:
        where = f": import it with {flags(best[1], ('output', 'inputs'))}" if best else ""
        raise EntryPointError(
            f"{base.entry}: its decode gave values outside {_range_text(choices.output)}, so it does not give "
            f"{choices.output}{where}"
        )
    chosen = allowed[0]
    if best and best is not chosen and chosen[0].mse > CLEAR * best[0].mse:
        named = tuple(a for a in ("output", "inputs") if getattr(choices, a) is not None)
        raise EntryPointError(
            f"{base.entry}: read with {flags(chosen[1], named)} its reconstructions of {len(x)} test images are far "
            f"from them (pixel MSE {chosen[0].mse:.3f}), read with {flags(best[1], named)} they match "
            f"({best[0].mse:.3f}): import it with {flags(best[1], named)}"
        )
    if chosen[0].skill < GOOD:  # no reading reconstructs: an untrained network, or a convention not known
        config = replace(base, inputs=choices.inputs or INPUTS[0], output=choices.output or OUTPUTS[0])
        config = replace(config, mean=choices.mean, std=choices.std) if choices.mean else config
        notes.append(
            f"no reading of its outputs reconstructs the test images (best pixel MSE {chosen[0].mse:.3f}, their mean "
            f"image's {baseline:.3f}): is it trained? Recorded {flags(config, ('inputs', 'output'))}"
        )
        return config, notes
    rival = next((r for r in allowed[1:] if r[0].skill >= GOOD and r[0].mse <= CLEAR * chosen[0].mse), None)
    if rival:
        raise EntryPointError(
            f"{base.entry}: its reconstructions fit {flags(chosen[1], ('inputs', 'output'))} "
            f"(pixel MSE {chosen[0].mse:.3f}) and {flags(rival[1], ('inputs', 'output'))} ({rival[0].mse:.3f}) "
            "alike: import it with the one its training used"
        )
    if "standardised" in (chosen[0].inputs, chosen[0].output) and not choices.mean:
        raise EntryPointError(
            f"{base.entry}: it reconstructs the test images standardised (pixel MSE {chosen[0].mse:.3f}): import it "
            f"with {flags(chosen[1], ('inputs', 'output'))} with the mean and std its training used (these are the "
            "test images')"
        )
    notes.append(
        f"found: {flags(chosen[1], ('inputs', 'output'))} (pixel MSE {chosen[0].mse:.3f} on {len(x)} test images)"
    )
    return chosen[1], notes


def _range_text(output: str | None) -> str:
    return "[-1, 1]" if output == "tanh" else "[0, 1]"


def _data_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-channel mean and std of images x: the standardisation tried when the operator gave none."""
    return tuple(x.mean((0, 2, 3)).tolist()), tuple(x.std((0, 2, 3)).clamp_min(1e-3).tolist())


def _posterior(model: OwnModel, x: torch.Tensor, choices: Choices) -> OwnModelConfig:
    """The config with what the encoder's second output is: named by its field, negative (a log-variance), or the
    reading under which the ELBO is best, as training made it."""
    config, entry = model.config, model.config.entry
    read, what = model.read(x)
    if read.kind:
        if choices.posterior not in (None, read.kind):
            raise EntryPointError(
                f"{entry}: its {what} names its spread a {read.kind}: import it with --posterior {read.kind}"
            )
        return replace(config, posterior=read.kind)
    assert read.spread is not None  # a VAE: _shape_of saw its spread
    if bool((read.spread < 0).any()):
        if choices.posterior not in (None, POSTERIORS[0]):
            raise EntryPointError(
                f"{entry}: its {what}'s second output has values below 0, so it is a log-variance, not a "
                f"{choices.posterior}: import it with --posterior {POSTERIORS[0]}"
            )
        return replace(config, posterior=POSTERIORS[0])
    losses = sorted((_elbo(OwnModel(replace(config, posterior=p), model.network), x), p) for p in POSTERIORS)
    (best, kind), (second, _) = losses[0], losses[1]
    margin = max(1.0, 0.01 * abs(best))  # nats: the draws' noise is far below this on a few hundred images
    given = next((loss for loss, p in losses if p == choices.posterior), None)
    if given is not None:
        if given - best > margin:
            raise EntryPointError(
                f"{entry}: read as a {choices.posterior}, its {what}'s second output gives a negative ELBO of "
                f"{given:.1f} nats, read as a {kind} {best:.1f}: import it with --posterior {kind}"
            )
        return replace(config, posterior=choices.posterior or kind)
    if second - best < margin:
        raise EntryPointError(
            f"{entry}: its {what}'s second output is positive on every test image and the ELBO reads it alike as a "
            f"{losses[0][1]} and a {losses[1][1]}: import it with --posterior {kind} if its training used that"
        )
    return replace(config, posterior=kind)


def _elbo(model: OwnModel, x: torch.Tensor) -> float:
    """The negative ELBO of x per image, averaged over a few seeded draws."""
    draws = [model.loss(x, generator=torch.Generator().manual_seed(seed))["loss"] for seed in range(ELBO_SAMPLES)]
    return float(torch.stack(draws).mean())


def reconstruction_check(model: OwnModel, x: torch.Tensor) -> dict:
    """aelab's reconstructions of x against the model's own, in pixels: its forward's, when that is a
    deterministic reconstruction, else its decode of its encoder's codes (a VAE's means) called directly."""
    net, config = model.network, model.config
    shape = (len(x), *config.image_shape)
    mine = torch.sigmoid(model.reconstruct(x))
    own, against = None, "its decode(encode(x))"
    try:
        first, second = (read_decoded(net(network_input(x, config))) for _ in range(2))
    except Exception:  # a forward that needs other arguments, or none: decode(encode(x)) is the model's own then
        first = second = None
    if (
        isinstance(first, torch.Tensor)
        and isinstance(second, torch.Tensor)
        and first.numel() == mine.numel()
        and torch.equal(first, second)
    ):
        own, against = first.reshape(shape), "its forward"
    if own is None:
        own = model.own_output(model.encode(x))
    own = pixels(own.reshape(shape), config)
    if config.output != "logits":  # aelab clamps probabilities before their logits, by design
        own = own.clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return {"images": len(x), "against": against, "difference": float((mine - own).abs().max())}
