"""Diffusers' AutoencoderKL, the VAE of latent diffusion, as an own model (aelab.models.own): the entry point
`diffusers:FOLDER` names a folder its `save_pretrained` wrote (config.json and its weights), or a model id in the
local Hugging Face cache. Only the operator's `import` command fetches a model id it does not find there
(`fetched`); the app reads local files only, so it sends no request to another host. diffusers is an optional
extra (`pip install 'aelab[diffusers]'`), imported only here.

Its encode gives an AutoencoderKLOutput whose `latent_dist` has `mean` and `logvar` of shape (B, C, h, w), spatial
codes; its decode a DecoderOutput whose `sample` is the image in [-1, 1]: aelab.models.conventions reads both.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from aelab.models.config import DIFFUSERS_PREFIX, EntryPointError

WEIGHTS = "diffusion_pytorch_model.safetensors"  # the weights file save_pretrained writes beside config.json


def source_of(entry: str) -> str | None:
    """The folder or model id a `diffusers:` entry point names; None for any other entry point."""
    return entry[len(DIFFUSERS_PREFIX) :] if entry.startswith(DIFFUSERS_PREFIX) else None


def autoencoder_kl(source: str) -> nn.Module:
    """An AutoencoderKL built from the config at `source`, its weights as initialised (the caller loads them)."""
    try:
        from diffusers import AutoencoderKL
    except ImportError:
        raise EntryPointError(
            f"{DIFFUSERS_PREFIX}{source} needs diffusers, which is not installed: pip install 'aelab[diffusers]'"
        ) from None
    try:
        return AutoencoderKL.from_config(AutoencoderKL.load_config(source, local_files_only=True))
    except Exception as err:  # diffusers' own errors for a folder without config.json, or a model id not cached
        raise EntryPointError(
            f"{DIFFUSERS_PREFIX}{source}: no AutoencoderKL config there ({type(err).__name__}: {err})"
        ) from None


def fetched(source: str) -> str:
    """A folder holding `source`'s config and weights: `source` itself when it is a folder, else the model id's
    files from the Hugging Face Hub (its cache first, then the network): what the `import` command asks for."""
    if Path(source).is_dir():
        return source
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(source, allow_patterns=["config.json", WEIGHTS])
    except Exception as err:  # the hub's errors for an unknown id, no network, or no huggingface_hub at all
        raise EntryPointError(
            f"{DIFFUSERS_PREFIX}{source} is neither a folder nor a model id that could be fetched "
            f"({type(err).__name__}): name a folder save_pretrained wrote, or import it where the Hub is reachable"
        ) from None


def weights_file(source: str) -> Path:
    """The weights file in a folder `save_pretrained` wrote."""
    return Path(source) / WEIGHTS
