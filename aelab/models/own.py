"""Your own model: a network of the operator's own code behind aelab's interface (models.LatentModel).

The operator names an entry point, `package.module:function` or `path/to/file.py:function`: a function that
takes no arguments and returns a torch.nn.Module with
- `encode(x)` (or an `encoder` submodule): the codes (B, D); for a VAE, its posterior in any form
  aelab.models.conventions reads, or a `posterior(x)` method that gives it;
- `decode(z)` (or a `decoder` submodule): (B, C, H, W) or (B, C*H*W) images in the convention its config records.
aelab.models.importing checks it against a safetensors weights file and real images, and finds its conventions;
the CLI then writes an aelab checkpoint naming it, which every page lists and uses. Code runs only where the
operator allows it (AELAB_ENTRY_POINTS, or the entry named on the `import` command running): a checkpoint's header,
which anybody can write, may name code, but aelab imports nothing a header names unless it is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import torch
from safetensors import safe_open
from torch import nn

from aelab.models.autoencoders import LatentModel
from aelab.models.config import EntryPointError, OwnModelConfig, allowing, canonical_entry, require_allowed
from aelab.models.conventions import (
    VAE_RETURNS,
    Encoded,
    network_input,
    out_of_range,
    read_decoded,
    read_encoded,
    to_logits,
    to_logvar,
)
from aelab.models.diffusers_kl import autoencoder_kl, source_of

PROBE_IMAGES = 3  # the batch `check` runs through a network: more than one, to catch a batch dimension dropped


@contextmanager
def _importable(where: str) -> Iterator[None]:
    """An entry file's folder on sys.path while its code is imported and called, so that its own imports
    (`from models import VAE` in a cloned repository) find their modules as they do when the file is run."""
    folder = str(Path(where).parent) if where.endswith(".py") else ""
    added = bool(folder) and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


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
                with _importable(where):
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
    source = source_of(canonical_entry(entry))
    if source is not None:
        return autoencoder_kl(source)
    function = _function(entry)
    try:
        with _importable(canonical_entry(entry).rsplit(":", 1)[0]):
            made = function()
    except Exception as err:
        raise EntryPointError(f"{entry} raised {type(err).__name__}: {err}") from None
    if not isinstance(made, nn.Module):
        raise EntryPointError(f"{entry} returned a {type(made).__name__}, not a torch.nn.Module")
    missing = [f"{method} (or an {method}r submodule)" for method in ("encode", "decode") if not _part(made, method)]
    if missing:
        raise EntryPointError(f"{entry} returned a {type(made).__name__} without {' or '.join(missing)}")
    return made


def _part(net: nn.Module, method: str) -> tuple[Callable[..., object], str] | None:
    """The network's method `method` ("encode", "decode"), or else its submodule named for it ("encoder",
    "decoder"), and what a message calls it; None when it has neither."""
    found = getattr(net, method, None)
    if callable(found) and not isinstance(found, nn.Module):
        return cast(Callable[..., object], found), method
    module = getattr(net, f"{method}r", None)
    return (module, f"{method}r") if isinstance(module, nn.Module) else None


def encoder_of(net: nn.Module) -> tuple[Callable[..., object], str]:
    """What encodes, and its name: a `posterior` method where the network has one, else `encode` or `encoder`."""
    posterior = getattr(net, "posterior", None)
    if callable(posterior) and not isinstance(posterior, nn.Module):
        return posterior, "posterior"
    return cast(tuple[Callable[..., object], str], _part(net, "encode"))


def decoder_of(net: nn.Module) -> tuple[Callable[..., object], str]:
    """What decodes, and its name: `decode`, else the `decoder` submodule (`network` checked there is one)."""
    return cast(tuple[Callable[..., object], str], _part(net, "decode"))


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
        read, what = self.read(x)
        if read.spread is None:
            raise EntryPointError(f"{self.config.entry}: its {what} gives codes alone, no posterior; {VAE_RETURNS}")
        logvar = to_logvar(read.spread, read.kind or self.config.posterior)
        return read.codes, _finite(self.config.entry, f"{what}'s {read.kind or self.config.posterior}", logvar)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.read(x)[0].codes

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.own_output(z)
        # a sigmoid never leaves [0, 1]; [-1, 1] pixels may stray on codes far from the data's, and are clamped
        if self.config.output == "probabilities" and out_of_range(out, self.config.output):
            raise EntryPointError(
                f"{self.config.entry}: its decode gave values outside [0, 1], so not the probabilities its header "
                "records"
            )
        return to_logits(out, self.config)

    def own_output(self, z: torch.Tensor) -> torch.Tensor:
        """The network's decode of codes z (B, D), given back their spatial shape where they have one, as
        (B, C, H, W) in its own convention: checked, not converted."""
        method, what = decoder_of(self.network)
        out = read_decoded(
            _called(
                self.config.entry,
                what,
                method,
                z.reshape(len(z), *self.config.code_shape) if self.config.code_shape else z,
            )
        )
        shape = self.config.image_shape
        flat = (len(z), shape[0] * shape[1] * shape[2])
        if not isinstance(out, torch.Tensor) or out.shape not in ((len(z), *shape), flat):
            raise EntryPointError(
                f"{self.config.entry}: its {what} gave {_shape(out)} for {len(z)} codes; "
                f"it should give {(len(z), *shape)} or {flat}"
            )
        return _finite(self.config.entry, what, out).reshape(len(z), *shape)

    def read(self, x: torch.Tensor) -> tuple[Encoded, str]:
        """What the network's encoder returns for images x in [0, 1] (converted to what it takes), read and
        checked against the config's latent size, and what a message calls the encoder."""
        entry, d = self.config.entry, self.config.latent_dim
        method, what = encoder_of(self.network)
        out = _called(entry, what, method, network_input(x, self.config))
        read = read_encoded(out)
        parts = () if read is None else (read.codes,) if read.spread is None else (read.codes, read.spread)
        wanted = (len(x), *(self.config.code_shape or (d,)))
        if read is None or len(parts) != (2 if self.is_variational else 1) or any(p.shape != wanted for p in parts):
            expected = (
                VAE_RETURNS.replace("(B, D)", str((len(x), d)))
                if self.is_variational
                else f"it should give codes {(len(x), d)}"
            )
            raise EntryPointError(f"{entry}: its {what} gave {_shape(out)} for {len(x)} images; {expected}")
        for part in parts:
            _finite(entry, what, part)
        if self.config.code_shape:  # spatial codes: every page works on them flattened
            flat = [p.flatten(1) for p in parts]
            read = Encoded(flat[0], flat[1] if len(flat) > 1 else None, read.kind)
        return read, what


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


def check(model: OwnModel) -> None:
    """Run a few images and codes through `model`: its outputs are the shapes its config says, and finite."""
    x = torch.rand(PROBE_IMAGES, *model.config.image_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.loss(x, generator=torch.Generator().manual_seed(0))  # encodes (a VAE: its posterior) and decodes
        model.decode(torch.randn(PROBE_IMAGES, model.latent_dim, generator=torch.Generator().manual_seed(0)))


def build(config: OwnModelConfig) -> OwnModel:
    """The model a checkpoint's header describes, with the weights its code initialises: allowed entry points only."""
    return OwnModel(config, network(config.entry))


def load_network(entry: str, weights: str | Path) -> nn.Module:
    """The operator's network from `entry` with the tensors of the safetensors file `weights`, in eval mode.

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
    return net.eval()


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
