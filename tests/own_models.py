"""Your own model as the tests build it (aelab.models.own): the complete example of docs/own-model.md, written to a
temporary folder, trained there its own way and imported with the CLI, and networks of other designs and failures.
Shared by the unit tier (tests/unit/test_own_model.py) and the app tier (tests/app/test_app_own_model.py) through the
`own` fixture (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from aelab.cli import main
from aelab.data.registry import data_dir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "my_autoencoder"

# Networks of other designs and failures, in a module of their own (written to the temporary folder).
OTHERS = """
import torch
from torch import nn


class ExamplesVAE(nn.Module):  # pytorch/examples' vae/main.py: flat input, encode -> (mu, logvar), sigmoid output
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        h1 = torch.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.sigmoid(self.fc4(torch.relu(self.fc3(z))))


class PosteriorVAE(nn.Module):  # a posterior method; encode gives the mean alone
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Tanh())
        self.mu, self.logvar = nn.Linear(64, 4), nn.Linear(64, 4)
        self.decoder = nn.Sequential(nn.Linear(4, 784), nn.Unflatten(1, (1, 28, 28)))

    def posterior(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)

    def encode(self, x):
        return self.posterior(x)[0]

    def decode(self, z):
        return self.decoder(z)


class Tiny(nn.Module):
    def __init__(self, latent=3):
        super().__init__()
        self.enc, self.dec = nn.Linear(784, latent), nn.Linear(latent, 784)

    def encode(self, x):
        return self.enc(x.flatten(1))

    def decode(self, z):
        return self.dec(z)


class DropsTheBatch(Tiny):
    def encode(self, x):
        return self.enc(x.flatten(1)).mean(0)


class NaNDecoder(Tiny):
    def decode(self, z):
        return self.dec(z) * float("nan")


class NaNOnDigits(Tiny):  # fine on the probe's uniform noise, NaN on MNIST's mostly black digits
    def encode(self, x):
        codes = self.enc(x.flatten(1))
        return torch.where((x.flatten(1) == 0).float().mean(1, keepdim=True) > 0.5, float("nan"), codes)


class ColourTiny(nn.Module):  # 3x64x64 RGB pictures as (B, 3, 64, 64), logits of the same shape
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 4, 4, 4), nn.Flatten(), nn.Linear(4 * 16 * 16, 6))
        self.dec = nn.Sequential(nn.Linear(6, 3 * 64 * 64), nn.Unflatten(1, (3, 64, 64)))

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        return self.dec(z)


class EncodeOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(784, 2)

    def encode(self, x):
        return self.enc(x.flatten(1))


def examples_vae():
    return ExamplesVAE()


def posterior_vae():
    return PosteriorVAE()


def tiny():
    return Tiny()


def drops_the_batch():
    return DropsTheBatch()


def nan_decoder():
    return NaNDecoder()


def nan_on_digits():
    return NaNOnDigits()


def encode_only():
    return EncodeOnly()


def colour_tiny():
    return ColourTiny()


def raises():
    raise RuntimeError("no GPU here")


def not_a_module():
    return 42
"""
MARKER = """
from pathlib import Path

Path(__file__).with_suffix(".imported").touch()  # proof that this module was imported


def build():
    raise AssertionError("never called")
"""


def guide_example() -> str:
    """The example file of docs/own-model.md, as a reader copies it."""
    text = (ROOT / "docs" / "own-model.md").read_text()
    return re.search(r"<!-- own-model example -->\n```python\n(.*?)```", text, re.S).group(1)


def run_cli(*args: str | Path) -> tuple[int, str]:
    """`python -m aelab ...` in-process: its exit code and what it wrote to stderr."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, err.getvalue()


def build_own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The example of docs/own-model.md trained one epoch by its own script, and an untrained copy, imported into a
    runs folder; the other networks' modules and initial weights. The `own` fixture (tests/conftest.py) yields it."""
    folder = tmp_path_factory.mktemp("mine")
    (folder / f"{EXAMPLE}.py").write_text(guide_example())
    (folder / "others.py").write_text(OTHERS)
    (folder / "marker.py").write_text(MARKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, f"{EXAMPLE}.py", str(data_dir()), "1"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    sys.path.insert(0, str(folder))
    import importlib

    others = importlib.import_module("others")
    for name in (
        "examples_vae",
        "posterior_vae",
        "tiny",
        "drops_the_batch",
        "nan_decoder",
        "nan_on_digits",
        "encode_only",
        "colour_tiny",
    ):
        torch.manual_seed(0)
        save_file(getattr(others, name)().state_dict(), folder / f"{name}.safetensors")
    runs = tmp_path_factory.mktemp("runs")
    entry = f"{folder / EXAMPLE}.py:build"
    code, err = run_cli("import", entry, folder / f"{EXAMPLE}.safetensors", "--out", runs / "mine.safetensors")
    assert code == 0, err
    untrained = folder / "untrained.safetensors"
    save_file(untrained_example(folder).state_dict(), untrained)
    code, err = run_cli("import", entry, untrained, "--out", folder / "untrained-aelab.safetensors")
    assert code == 0, err
    yield {
        "folder": folder,
        "runs": runs,
        "entry": entry,
        "mine": runs / "mine.safetensors",
        "untrained": folder / "untrained-aelab.safetensors",
    }
    sys.path.remove(str(folder))


def untrained_example(folder: Path) -> torch.nn.Module:
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_example", folder / f"{EXAMPLE}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return module.build()
