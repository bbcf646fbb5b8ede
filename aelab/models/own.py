"""Your own model: a network of the operator's own code behind aelab's interface (models.LatentModel).

The operator names an entry point, `package.module:function` or `path/to/file.py:function`: a function that
takes no arguments and returns a torch.nn.Module with
- `encode(x)`: the codes (B, D); for a VAE, `(mu, logvar)` as pytorch/examples' VAE returns them, or a
  `posterior(x)` method that does;
- `decode(z)`: (B, C, H, W) or (B, C*H*W) logits (aelab's convention) or probabilities (after a sigmoid).
`import_model` checks it against a safetensors weights file and its data's image shape; the CLI then writes an
aelab checkpoint naming it, which every page lists and uses. Code runs only where the operator allows it
(AELAB_ENTRY_POINTS, or the entry named on the `import` command running): a checkpoint's header, which anybody can
write, may name code, but aelab imports nothing a header names unless it is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch
from safetensors import safe_open
from torch import nn

from aelab.models.autoencoders import LatentModel
from aelab.models.config import (
    LOGVAR_MAX,
    LOGVAR_MIN,
    OUTPUTS,
    EntryPointError,
    OwnModelConfig,
    allowing,
    canonical_entry,
    require_allowed,
)

PROBE_IMAGES = (
    3  # the batch `describe_network` runs through a network: more than one, to catch a batch dimension dropped
)
PROBABILITY_FLOOR = 1e-6  # probabilities are clamped to [floor, 1 - floor] before their logits are taken


@functools.cache
def _function(entry: str) -> Callable[[], object]:
    """The function an entry point names, its module imported once per process (a file as the importlib docs'
    recipe does, registered in sys.modules so that its dataclasses and pickles work)."""
    where, name = canonical_entry(entry).rsplit(":", 1)
    try:
        if where.endswith(".py"):
            if not Path(where).is_file():
                raise FileNotFoundError(f"no file {where}")
            spec = importlib.util.spec_from_file_location(
                f"aelab_own_{hashlib.sha1(where.encode()).hexdigest()[:12]}", where
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"no loader for {where}")
            module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[spec.name]
                raise
        else:
            module = importlib.import_module(where)
    except Exception as err:  # the operator's code: any error it raises on import is reported, not raised on
        raise EntryPointError(f"{entry}: importing {where} failed ({type(err).__name__}: {err})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise EntryPointError(f"{entry}: {where} has no function {name}")
    return function


def network(entry: str) -> nn.Module:
    """A fresh network from an allowed entry point, its weights as its code initialises them."""
    require_allowed(entry)
    function = _function(entry)
    try:
        made = function()
    except Exception as err:
        raise EntryPointError(f"{entry} raised {type(err).__name__}: {err}") from None
    if not isinstance(made, nn.Module):
        raise EntryPointError(f"{entry} returned a {type(made).__name__}, not a torch.nn.Module")
    missing = [method for method in ("encode", "decode") if not callable(getattr(made, method, None))]
    if missing:
        raise EntryPointError(f"{entry} returned a {type(made).__name__} without {' or '.join(missing)}")
    return made


def _method(net: nn.Module, name: str) -> Callable[..., object]:
    """The network's method `name`, which `network` found callable (nn.Module's stubs type any attribute as a
    Tensor or Module)."""
    return cast(Callable[..., object], getattr(net, name))


def _encoder(net: nn.Module) -> tuple[Callable[..., object], str]:
    """The method that encodes, and its name: `posterior` where the network has one, else `encode`."""
    posterior = getattr(net, "posterior", None)
    return (posterior, "posterior") if callable(posterior) else (_method(net, "encode"), "encode")


class OwnModel(LatentModel):
    """An operator's network as aelab's models are: images in (B, C, H, W), logits out, clamped log-variances.

    Every output is checked (its shape, and NaN or infinity), so a network that misbehaves on some input is
    reported in one line (EntryPointError) instead of spreading NaN through a page.
    """

    config: OwnModelConfig

    def __init__(self, config: OwnModelConfig, net: nn.Module):
        super().__init__()
        self.config = config
        self.is_variational = config.variational
        self.network = net

    @property
    def decoder(self) -> nn.Module:
        """The network's `decoder` when it has one (SeFa's directions factorise its first layer taking z)."""
        found = getattr(self.network, "decoder", None)
        return found if isinstance(found, nn.Module) else nn.Sequential()

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self._encoded(x)
        if not isinstance(out, tuple):
            raise EntryPointError(f"{self.config.entry}: its encode gives codes alone, no log-variance")
        return out[0], out[1].clamp(LOGVAR_MIN, LOGVAR_MAX)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        out = self._encoded(x)
        return out[0] if isinstance(out, tuple) else out

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = _called(self.config.entry, "decode", _method(self.network, "decode"), z)
        shape = self.config.image_shape
        flat = (len(z), shape[0] * shape[1] * shape[2])
        if not isinstance(out, torch.Tensor) or out.shape not in ((len(z), *shape), flat):
            raise EntryPointError(
                f"{self.config.entry}: its decode gave {_shape(out)} for {len(z)} codes; "
                f"it should give {(len(z), *shape)} or {flat}"
            )
        out = _finite(self.config.entry, "decode", out).reshape(len(z), *shape)
        if self.config.output == OUTPUTS[0]:
            return out
        if out.min() < 0 or out.max() > 1:
            raise EntryPointError(
                f"{self.config.entry}: its decode gave values outside [0, 1], so they are not "
                f"probabilities (import it with --output {OUTPUTS[0]})"
            )
        return torch.logit(out.clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR))

    def _encoded(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The codes, or (mu, logvar) for a VAE, checked against the config's latent size."""
        entry, d = self.config.entry, self.config.latent_dim
        method, what = _encoder(self.network)
        out = _called(entry, what, method, x.flatten(1) if self.config.flat else x)
        parts = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        wanted = 2 if self.is_variational else 1
        if len(parts) != wanted or any(not isinstance(p, torch.Tensor) or p.shape != (len(x), d) for p in parts):
            expected = (
                f"(mu, logvar), each of shape {(len(x), d)}" if self.is_variational else f"codes of shape {(len(x), d)}"
            )
            raise EntryPointError(
                f"{entry}: its {what} gave {_shape(out)} for {len(x)} images; it should give {expected}"
            )
        parts = tuple(_finite(entry, what, p) for p in parts)
        return parts if self.is_variational else parts[0]


def _called(entry: str, what: str, method: Callable[..., object], *args: torch.Tensor) -> object:
    try:
        return method(*args)
    except Exception as err:  # the operator's code: whatever it raises becomes one line
        raise EntryPointError(f"{entry}: its {what} raised {type(err).__name__}: {err}") from None


def _finite(entry: str, what: str, out: torch.Tensor) -> torch.Tensor:
    bad = int((~torch.isfinite(out.detach())).flatten(1).any(1).sum())
    if bad:
        raise EntryPointError(f"{entry}: its {what} gave NaN or infinity for {bad} of {len(out)} inputs")
    return out


def _shape(out: object) -> str:
    """What a network returned, in a message: a tensor's shape, a tuple's shapes, or its type."""
    if isinstance(out, torch.Tensor):
        return f"shape {tuple(out.shape)}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of " + ", ".join(_shape(o) for o in out)
    return f"a {type(out).__name__}"


def describe_network(
    entry: str, net: nn.Module, image_shape: tuple[int, int, int], flat: bool = False, output: str = OUTPUTS[0]
) -> OwnModelConfig:
    """The config that describes `net` on images of `image_shape`: its latent size and whether it is a VAE,
    found by running a few images through it (in eval mode, without gradients). Raises EntryPointError, naming
    what is wrong, when its encode or decode do not fit aelab's interface or give NaN."""
    net.eval()
    x = torch.rand(PROBE_IMAGES, *image_shape, generator=torch.Generator().manual_seed(0))
    method, what = _encoder(net)
    hint = "" if flat else " (if it takes flattened vectors, import it with --flat)"
    with torch.no_grad():
        try:
            out = _called(entry, what, method, x.flatten(1) if flat else x)
        except EntryPointError as err:
            raise EntryPointError(f"{err}{hint}") from None
    if isinstance(out, (tuple, list)) and len(out) == 2:
        variational, first = True, out[0]
    else:
        variational, first = False, out
    if not isinstance(first, torch.Tensor) or first.ndim != 2 or len(first) != PROBE_IMAGES:
        raise EntryPointError(
            f"{entry}: its {what} gave {_shape(out)} for {PROBE_IMAGES} images of shape "
            f"{tuple(x.shape[1:])}; it should give codes of shape ({PROBE_IMAGES}, D){hint}"
        )
    config = OwnModelConfig(
        entry=canonical_entry(entry),
        latent_dim=first.shape[1],
        variational=variational,
        channels=image_shape[0],
        side=image_shape[1],
        flat=flat,
        output=output,
    )
    check(OwnModel(config, net))
    return config


def check(model: OwnModel) -> None:
    """Run a few images and codes through `model`: its outputs are the shapes its config says, and finite."""
    x = torch.rand(PROBE_IMAGES, *model.config.image_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.loss(x, generator=torch.Generator().manual_seed(0))  # encodes (a VAE: its posterior) and decodes
        model.decode(torch.randn(PROBE_IMAGES, model.latent_dim, generator=torch.Generator().manual_seed(0)))


def build(config: OwnModelConfig) -> OwnModel:
    """The model a checkpoint's header describes, with the weights its code initialises: allowed entry points only."""
    return OwnModel(config, network(config.entry))


def import_model(
    entry: str, weights: str | Path, image_shape: tuple[int, int, int], flat: bool = False, output: str = OUTPUTS[0]
) -> OwnModel:
    """The operator's network from `entry` with the tensors of the safetensors file `weights`, checked and wrapped.

    Every tensor of the network must be in the file with its shape, and every tensor of the file must be the
    network's, so a weights file of another model (or of this one under a wrapper's prefix) is refused by name.
    """
    with allowing(entry):
        net = network(entry)
    path = Path(weights)
    try:
        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            expected = net.state_dict()
            _match(
                entry,
                path.name,
                names,
                {k: tuple(v.shape) for k, v in expected.items()},
                {k: tuple(f.get_slice(k).get_shape()) for k in names & set(expected)},
            )
            tensors = {k: f.get_tensor(k) for k in expected}
    except EntryPointError:
        raise
    except Exception as err:  # safetensors' own errors for a missing or malformed file
        raise EntryPointError(f"{path.name} is not a readable safetensors file ({type(err).__name__}: {err})") from None
    if not all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
        raise EntryPointError(f"{path.name}: weights contain NaN or infinity")
    net.load_state_dict(tensors)
    return OwnModel(describe_network(entry, net, image_shape, flat, output), net.eval())


def _match(entry: str, file: str, names: set[str], expected: dict[str, tuple], shapes: dict[str, tuple]) -> None:
    missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
    if missing or extra:
        parts = ([f"lacks {len(missing)} of the network's tensors ({', '.join(missing[:3])})"] if missing else []) + (
            [f"has {len(extra)} the network does not ({', '.join(extra[:3])})"] if extra else []
        )
        raise EntryPointError(f"{file} does not hold {entry}'s weights: it {' and '.join(parts)}")
    wrong = [f"{k} {shapes[k]} != {expected[k]}" for k in sorted(expected) if shapes[k] != expected[k]]
    if wrong:
        raise EntryPointError(f"{file}: tensor shapes do not match {entry}'s network: {'; '.join(wrong[:3])}")
