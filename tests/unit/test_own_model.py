"""Your own model (aelab.models.own): the complete example of docs/own-model.md, written to a temporary folder,
trained there its own way and imported with the CLI, then used through aelab's interface and on every page of the app;
pytorch/examples' VAE as written there; entry points that fail each way; headers naming code nobody allowed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from aelab.cli import main
from aelab.data.registry import data_dir
from aelab.explore import encoding, likelihood
from aelab.models.config import EntryPointError, OwnModelConfig, from_header
from aelab.models.own import OwnModel
from aelab.settings import variable
from aelab.store.checkpoints import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    read_metadata,
    read_tensors,
    save_checkpoint,
    save_tensors,
)
from aelab.ui import navigation

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "my_autoencoder"

# Networks of other designs and failures, in a module of their own (written to the temporary folder).
OTHERS = '''
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
        self.body, self.mu, self.logvar = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Tanh()), nn.Linear(64, 4), nn.Linear(64, 4)
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
'''
MARKER = '''
from pathlib import Path

Path(__file__).with_suffix(".imported").touch()  # proof that this module was imported


def build():
    raise AssertionError("never called")
'''


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


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The guide's example trained one epoch by its own script, and an untrained copy, imported into a runs folder;
    the other networks' modules and initial weights."""
    folder = tmp_path_factory.mktemp("mine")
    (folder / f"{EXAMPLE}.py").write_text(guide_example())
    (folder / "others.py").write_text(OTHERS)
    (folder / "marker.py").write_text(MARKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, f"{EXAMPLE}.py", str(data_dir()), "1"], cwd=folder, env=env, check=True,
                   capture_output=True, timeout=600)
    sys.path.insert(0, str(folder))
    import importlib

    others = importlib.import_module("others")
    for name in ("examples_vae", "posterior_vae", "tiny", "drops_the_batch", "nan_decoder", "nan_on_digits",
                 "encode_only", "colour_tiny"):
        torch.manual_seed(0)
        save_file(getattr(others, name)().state_dict(), folder / f"{name}.safetensors")
    runs = tmp_path_factory.mktemp("runs")
    entry = f"{folder / EXAMPLE}.py:build"
    code, err = run_cli("import", entry, folder / f"{EXAMPLE}.safetensors", "--out", runs / "mine.safetensors")
    assert code == 0, err
    untrained = folder / "untrained.safetensors"
    save_file(_untrained(folder).state_dict(), untrained)
    code, err = run_cli("import", entry, untrained, "--out", folder / "untrained-aelab.safetensors")
    assert code == 0, err
    yield {"folder": folder, "runs": runs, "entry": entry, "mine": runs / "mine.safetensors",
           "untrained": folder / "untrained-aelab.safetensors"}
    sys.path.remove(str(folder))


def _untrained(folder: Path) -> torch.nn.Module:
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_example", folder / f"{EXAMPLE}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return module.build()


@pytest.fixture
def allowed(settings, own):
    """`allowed(*entries)`: the operator's AELAB_ENTRY_POINTS for the rest of this test."""
    with ExitStack() as later:
        yield lambda *entries: later.enter_context(settings(entry_points=",".join(entries)))


def test_the_readme_example_imports_and_works_through_aelabs_interface(own, allowed, mnist_test):
    allowed(own["entry"])
    ckpt = load_checkpoint(own["mine"])
    assert isinstance(ckpt.model, OwnModel) and not ckpt.model.is_variational and ckpt.model.latent_dim == 8
    assert ckpt.meta["model"] == OwnModelConfig(own["entry"], 8, False).to_dict()
    assert ckpt.meta["imported"]["weights"] == f"{EXAMPLE}.safetensors"
    assert ckpt.meta["command"].startswith("python -m aelab import ")
    x = mnist_test.images[:200, 0].numpy()  # pictures, as the pages hold them
    codes = encoding.encode(ckpt.model, x)
    assert codes.shape == (200, 8) and np.isfinite(codes).all()
    decoded = encoding.decode(ckpt.model, codes)
    assert decoded.shape == (200, 28, 28) and 0 <= decoded.min() and decoded.max() <= 1
    # one epoch of its own training makes it reconstruct MNIST far better than its initial weights
    trained, untrained = (read_metadata(path)["metrics"]["recon"] for path in (own["mine"], own["untrained"]))
    assert trained < 0.5 * untrained, (trained, untrained)


def test_pytorch_examples_vae_imports_flat_with_probabilities(own, allowed, mnist_test):
    entry, weights = "others:examples_vae", own["folder"] / "examples_vae.safetensors"
    code, err = run_cli("import", entry, weights, "--out", own["folder"] / "refused.safetensors")
    assert code == 2 and "if it takes flattened vectors, import it with --flat" in err, err
    out = own["folder"] / "examples-vae.safetensors"
    code, err = run_cli("import", entry, weights, "--flat", "--output", "probabilities", "--out", out)
    assert code == 0, err
    allowed(entry)
    ckpt = load_checkpoint(out)
    assert ckpt.model.is_variational and ckpt.model.latent_dim == 20
    x = mnist_test.images[:64]
    mu, logvar = ckpt.model.posterior(x)
    assert mu.shape == logvar.shape == (64, 20)
    # its sigmoid outputs become logits: the decode aelab shows is the network's own, to the clamp
    with torch.no_grad():
        net = ckpt.model.network
        assert torch.allclose(torch.sigmoid(ckpt.model.decode(mu)).flatten(1), net.decode(mu).clamp(1e-6, 1 - 1e-6),
                              atol=1e-5)
    metrics = read_metadata(out)["metrics"]
    assert {"nelbo", "kl", "kl_per_dim"} <= set(metrics) and metrics["nelbo"] > metrics["recon"]
    nll = likelihood.iwae_nll(ckpt.model, x[:8], k=16)
    assert np.isfinite(nll.nll) and nll.nll <= metrics["nelbo"] * 1.5


def test_a_posterior_method_makes_a_vae(own, allowed):
    out = own["folder"] / "posterior.safetensors"
    code, err = run_cli("import", "others:posterior_vae", own["folder"] / "posterior_vae.safetensors", "--out", out)
    assert code == 0, err
    allowed("others:posterior_vae")
    model = load_checkpoint(out).model
    assert model.is_variational and model.latent_dim == 4
    terms = model.loss(torch.rand(5, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"loss", "recon", "kl"} and torch.isclose(terms["loss"], terms["recon"] + terms["kl"])


def test_a_colour_model_imports_on_shapes_with_its_disentanglement_measured(own, allowed):
    out = own["folder"] / "colour.safetensors"
    code, err = run_cli("import", "others:colour_tiny", own["folder"] / "colour_tiny.safetensors", "--dataset", "shapes",
                        "--out", out)
    assert code == 0, err
    allowed("others:colour_tiny")
    ckpt = load_checkpoint(out)
    assert ckpt.model.image_shape == (3, 64, 64) and ckpt.model.latent_dim == 6
    metrics = ckpt.meta["metrics"]
    assert metrics["dataset"] == "shapes test" and 0 <= metrics["mig"] <= 1 and len(metrics["dimension_factors"]) == 6
    pictures = encoding.decode(ckpt.model, np.zeros((2, 6), np.float32))
    assert pictures.shape == (2, 64, 64, 3)
    code, err = run_cli("import", "others:colour_tiny", own["folder"] / "colour_tiny.safetensors", "--out", out)
    assert code == 2 and "others:colour_tiny: its encode raised RuntimeError" in err  # MNIST's 1x28x28: one line


@pytest.mark.parametrize("entry, weights, message", [
    ("others:raises", "tiny", "others:raises raised RuntimeError: no GPU here"),
    ("others:not_a_module", "tiny", "others:not_a_module returned a int, not a torch.nn.Module"),
    ("others:encode_only", "encode_only", "returned a EncodeOnly without decode"),
    ("others:nowhere", "tiny", "others has no function nowhere"),
    ("no_such_module:build", "tiny", "importing no_such_module failed (ModuleNotFoundError"),
    ("others:drops_the_batch", "drops_the_batch", "its encode gave shape (3,) for 3 images"),
    ("others:nan_decoder", "nan_decoder", "its decode gave NaN or infinity for 3 of 3 inputs"),
    ("others:tiny", "posterior_vae", "does not hold others:tiny's weights: it lacks 4 of the network's tensors"),
    ("others:tiny", "no_such_file", "no_such_file.safetensors is not a readable safetensors file"),
], ids=["raises", "not-a-module", "no-decode", "no-function", "no-module", "drops-batch", "nan", "other-weights",
        "no-file"])
def test_an_entry_point_that_fails_gets_one_line_naming_what_is_wrong(own, entry, weights, message):
    out = own["folder"] / "failed.safetensors"
    code, err = run_cli("import", entry, own["folder"] / f"{weights}.safetensors", "--out", out)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_header_naming_code_nobody_allowed_is_refused_before_it_is_imported(own, allowed):
    allowed(own["entry"])  # another entry point is allowed: not the forged ones
    tensors, meta = read_tensors(own["mine"])
    forged = own["folder"] / "forged.safetensors"
    marker = f"{own['folder'] / 'marker'}.py:build"
    for entry in (marker, "os:system", "marker:build"):
        save_tensors(forged, tensors, meta | {"model": meta["model"] | {"entry": entry}})
        with pytest.raises(CheckpointError, match=f"which this aelab does not allow: .* {variable('entry_points')}="):
            load_checkpoint(forged)
        [listing] = [item for item in list_checkpoints(own["folder"]) if item.path == forged]
        assert listing.meta is None and "does not allow" in listing.error
    assert not (own["folder"] / "marker.imported").exists() and "marker" not in sys.modules


def test_an_allowed_entry_whose_weights_do_not_fit_the_header_is_refused(own, allowed):
    allowed(own["entry"])
    tensors, meta = read_tensors(own["mine"])
    lying = own["folder"] / "lying.safetensors"
    save_tensors(lying, tensors, meta | {"model": meta["model"] | {"latent_dim": 9}})
    with pytest.raises(CheckpointError, match=r"its encode gave shape \(3, 8\) for 3 images; it should give codes of "
                                              r"shape \(3, 9\)"):
        load_checkpoint(lying)


def test_a_network_that_gives_nan_on_real_data_is_stopped_with_one_line(own, mnist_test):
    from others import nan_on_digits

    out = own["folder"] / "nan-on-digits.safetensors"
    code, err = run_cli("import", "others:nan_on_digits", own["folder"] / "nan_on_digits.safetensors", "--out", out)
    # the probe's uniform noise passes; the test metrics on MNIST do not, and nothing is written
    assert code == 2 and "others:nan_on_digits: its encode gave NaN or infinity for 1000 of 1000 inputs" in err, err
    assert not out.exists()
    model = OwnModel(OwnModelConfig("others:nan_on_digits", 3, False), nan_on_digits())
    with pytest.raises(EntryPointError, match="its encode gave NaN or infinity for 100 of 100 inputs"):
        encoding.encode_all(model, mnist_test.images[:100], batch_size=100)


def test_own_model_configs_are_checked_like_aelabs(own):
    good = OwnModelConfig("pkg.mod:build", 8, True, channels=3, side=64)
    assert from_header(good.to_dict()) == good
    for bad, match in (({"entry": "pkg.mod"}, "entry must read"), ({"latent_dim": 10**6}, "latent_dim"),
                       ({"side": 4}, "side"), ({"output": "pixels"}, "output"), ({"flat": "yes"}, "flat"),
                       ({"widths": [8]}, "Unknown own model config fields")):
        with pytest.raises(ValueError, match=match):
            from_header(good.to_dict() | bad)


# --- in the app ----------------------------------------------------------------------------------------------


@pytest.fixture
def app_env(own, settings, tmp_path: Path):
    """The app with the example's run and its entry point allowed; it gives `own`, and `settings` for a test to
    change one inside."""
    with settings(runs_dir=own["runs"], cache_dir=tmp_path, entry_points=own["entry"]):
        yield own


def open_page(page: str, model: str = "mine (yours)") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.sidebar.selectbox(key="model_label").set_value(model).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", [spec for spec in navigation.PAGES if spec is not navigation.TRAIN],
                         ids=lambda spec: spec.title)
def test_every_page_works_with_your_own_model(app_env, page):
    at = open_page(page.script)
    assert not at.error, [e.value for e in at.error]
    assert page is navigation.DRAW or at.image or at.get("plotly_chart"), page.title
    if page is navigation.TRAVERSE:  # a slider for each of its 8 dimensions
        assert len([s for s in at.slider if s.label.startswith("dim ")]) == 8
    card = at.sidebar.markdown[0].value
    assert card.startswith("**Your own model (autoencoder, ") and card.endswith("8-d latent, 1x28x28 gray**")
    assert f"imported from {EXAMPLE}.safetensors" in at.sidebar.caption[0].value


def test_an_own_model_that_is_not_allowed_is_listed_as_skipped(app_env, settings):
    with settings(entry_points=""):
        st.cache_data.clear()  # the listing is cached per process, whose allowed entry points never change but here
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
        assert not at.exception
        assert "mine (yours)" not in at.sidebar.selectbox(key="model_label").options
        [warning] = [w.value for w in at.sidebar.warning if "mine.safetensors" in w.value]
        assert f"{variable('entry_points')}={app_env['entry']}" in warning


def test_a_page_where_an_own_model_fails_says_so_in_one_line(app_env, settings):
    from others import nan_on_digits

    out = app_env["runs"] / "nan-on-digits.safetensors"
    model = OwnModel(OwnModelConfig("others:nan_on_digits", 3, False), nan_on_digits())
    save_checkpoint(out, model, {"dataset": "mnist"})
    try:
        with settings(entry_points=f"{app_env['entry']},others:nan_on_digits"):
            at = open_page(navigation.MAP.script, model="nan-on-digits (yours)")
            assert [e.value for e in at.error] == ["others:nan_on_digits: its encode gave NaN or infinity for 500 of "
                                                   "500 inputs"]
    finally:
        out.unlink()
