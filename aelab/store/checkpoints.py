"""Checkpoints: safetensors weights with JSON metadata in the header, written atomically.

Nothing is ever unpickled: a file that is not a well-formed aelab safetensors file, or whose
tensors do not match the model its metadata names, is refused with a `CheckpointError`.
Headers are read without loading any tensor, so listing models and showing their cards is cheap;
torch and the models are imported by the functions that save or build one, so reading headers does
not import them.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import safetensors
from safetensors import safe_open

from aelab.models.config import (
    DIGIT_SHAPE,
    OWN_MODEL,
    EntryPointError,
    ModelConfig,
    OwnModelConfig,
    from_header,
    require_allowed,
)
from aelab.store.files import atomic_write

if TYPE_CHECKING:
    import torch

    from aelab.models.autoencoders import Autoencoder, LatentModel
    from aelab.models.own import OwnModel

FORMAT = "aelab-checkpoint"
# 2: the model's `activation` is always stored (version 1 files without it are ReLU models);
# 3: and its image shape, `channels` and `side` (files of versions 1 and 2 are 1x28x28 models).
FORMAT_VERSION = 3
SUFFIX = ".safetensors"
IWAE = "iwae"  # meta["metrics"][IWAE]: aelab.explore.likelihood's log-likelihood bound, kept by later evaluations
RESUME_SUFFIX = ".resume.safetensors"


class CheckpointError(ValueError):
    """The file is not a checkpoint this version can load; the message says why."""


@dataclass
class Checkpoint:
    path: Path
    model: LatentModel
    meta: dict
    digest: str  # content hash: the cache key for everything computed from this model


def package_versions() -> dict[str, str]:
    """What wrote a checkpoint; torchvision's version read from its metadata, not imported (a slow import)."""
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": metadata.version("torchvision"),
        "safetensors": safetensors.__version__,
    }


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Serialise tensors with `meta` as JSON under the header key 'aelab', atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, save(tensors, metadata={"aelab": json.dumps(meta)}))


def save_checkpoint(path: str | Path, model: LatentModel, meta: dict | None = None) -> None:
    """Save a model with its config and whatever else is known (dataset, metrics, training)."""
    full = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
    } | (meta or {})
    save_tensors(Path(path), model.state_dict(), full)


def update_metadata(path: str | Path, extra: dict) -> None:
    """Merge `extra` into a checkpoint's metadata, rewriting the file atomically."""
    tensors, meta = read_tensors(path)
    save_tensors(Path(path), tensors, meta | extra)


def read_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a safetensors file and its aelab metadata, refusing anything malformed."""
    with _opened(Path(path), "pt") as (f, meta):
        return {k: f.get_tensor(k) for k in f.keys()}, meta


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model a checkpoint describes and load its weights, on the CPU, in eval mode.

    The header is untrusted: its config must keep ModelConfig's limits, and the shapes it
    implies (a model built on the meta device, which allocates nothing) must be the file's
    before a weight is read, so a header asking for a huge model costs nothing to refuse. An own
    model's code (aelab.models.own) runs only when the operator allows its entry point, and its
    outputs are checked against what the header says once the weights are in.
    """
    import torch

    from aelab.models.autoencoders import build_model
    from aelab.models.own import OwnModel, check

    path = Path(path)
    with _opened(path, "pt") as (f, meta):
        config, model = _skeleton(path, meta)
        expected = model.state_dict()
        missing = sorted(set(expected) - set(f.keys()))
        if missing:
            raise CheckpointError(f"{path.name}: missing tensors for {config.name}: {', '.join(missing[:5])}")
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in expected}
        wrong = [f"{k} {shapes[k]} != {tuple(v.shape)}" for k, v in expected.items() if shapes[k] != v.shape]
        if wrong:
            raise CheckpointError(f"{path.name}: tensor shapes do not match {config.name}: {'; '.join(wrong[:3])}")
        weights = {k: f.get_tensor(k) for k in expected}
    wrong = [f"{k} {weights[k].dtype} != {v.dtype}" for k, v in expected.items() if weights[k].dtype != v.dtype]
    if wrong:
        raise CheckpointError(f"{path.name}: tensor types do not match {config.name}: {'; '.join(wrong[:3])}")
    if not all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point()):
        raise CheckpointError(f"{path.name}: weights contain NaN or infinity")
    if isinstance(model, OwnModel):  # built by its own code for real, not on the meta device
        model.load_state_dict(weights)
        try:
            check(model.eval())
        except EntryPointError as err:
            raise CheckpointError(f"{path.name}: {err}") from None
    else:
        model = build_model(model.config)
        model.load_state_dict(weights)
    model.eval()
    return Checkpoint(path, model, meta, file_digest(path))


def _skeleton(path: Path, meta: dict) -> tuple[ModelConfig | OwnModelConfig, Autoencoder | OwnModel]:
    """The header's config and a model to compare the file's tensors with: aelab's on the meta device, an
    own model as its (allowed) code builds it."""
    import torch

    from aelab.models.autoencoders import build_model
    from aelab.models.own import build

    try:
        config = from_header(meta["model"])
        if isinstance(config, OwnModelConfig):
            return config, build(config)

        with torch.device("meta"):
            return config, build_model(config)
    except (KeyError, TypeError, ValueError) as err:  # EntryPointError included
        raise CheckpointError(f"{path.name}: its model description is invalid ({err})") from None


def file_digest(path: str | Path) -> str:
    """First 16 hex digits of the file's SHA-256."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def is_variational(path: str | Path) -> bool:
    """The model kind from the header alone (no weights loaded); False for unreadable files."""
    try:
        return describes_vae(read_metadata(path))
    except CheckpointError:
        return False


def image_shape(meta: dict) -> tuple[int, int, int] | None:
    """The (C, H, W) of the images a checkpoint's model takes, from its metadata alone (None when invalid)."""
    try:
        return from_header(meta["model"]).image_shape
    except (KeyError, TypeError, ValueError):
        return None


def describes_vae(meta: dict) -> bool:
    """Whether checkpoint metadata (as `read_metadata` returns it) is a VAE's."""
    try:
        return from_header(meta.get("model")).variational
    except (TypeError, ValueError):
        return False


@dataclass
class Listing:
    path: Path
    meta: dict | None
    error: str | None


def list_checkpoints(*folders: str | Path) -> list[Listing]:
    """Every *.safetensors model file in `folders` (resume states excluded), readable or not."""
    found = []
    for folder in folders:
        for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
            if path.name.endswith(RESUME_SUFFIX):
                continue
            try:
                found.append(Listing(path, read_metadata(path), None))
            except CheckpointError as err:
                found.append(Listing(path, None, str(err)))
    return found


def read_metadata(path: str | Path) -> dict:
    """The metadata alone (no tensors loaded), validated like `read_tensors`."""
    with _opened(Path(path)) as (_, meta):
        return meta


@contextmanager
def _opened(path: Path, framework: str = "numpy") -> Iterator[tuple[safe_open, dict]]:
    """The file opened for reading tensors one at a time, with its validated metadata; framework
    "pt" gives torch tensors (and imports torch), "numpy" reads headers without it.

    safetensors checks at opening that the header's tensors lie within the file, so nothing the
    header claims is read, let alone allocated, until a caller asks for that tensor.
    """
    if not path.is_file():
        raise CheckpointError(f"{path.name}: no such file")
    try:
        f = safe_open(str(path), framework=framework)
    except Exception as err:  # safetensors raises its own error types for every malformation
        raise CheckpointError(f"{path.name} is not a valid safetensors file ({type(err).__name__}: {err})") from None
    with f:
        yield f, _validated_meta(path, f.metadata() or {})


def _validated_meta(path: Path, header: dict) -> dict:
    try:
        meta = json.loads(header["aelab"])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path.name} has no aelab metadata: it was not written by aelab") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: metadata is not an aelab checkpoint's")
    if meta.get("version") not in (*_UPGRADED, FORMAT_VERSION):
        raise CheckpointError(f"{path.name}: checkpoint format version {meta.get('version')} is not supported")
    model = meta.get("model")
    if isinstance(model, dict) and model.get("name") == OWN_MODEL:  # listed only where its code may run
        try:
            require_allowed(str(model.get("entry")))
        except EntryPointError as err:
            raise CheckpointError(f"{path.name}: {err}") from None
    return _upgraded(meta)


# What each older version lacks, by version: the values its models had (ModelConfig's defaults are today's).
_UPGRADED: dict[int, dict[str, object]] = {
    1: {"activation": "relu", "channels": DIGIT_SHAPE[0], "side": DIGIT_SHAPE[1]},
    2: {"channels": DIGIT_SHAPE[0], "side": DIGIT_SHAPE[1]},
}


def _upgraded(meta: dict) -> dict:
    """Metadata in today's format. Version 1 saved no `activation` before SiLU arrived: those models are ReLU's;
    versions 1 and 2 saved no image shape before colour arrived: those models are MNIST's 1x28x28."""
    if meta["version"] in _UPGRADED:
        for model in (meta.get("model"), (meta.get("train") or {}).get("model")):
            if isinstance(model, dict):
                for key, value in _UPGRADED[meta["version"]].items():
                    model.setdefault(key, value)
        meta["version"] = FORMAT_VERSION
    return meta
