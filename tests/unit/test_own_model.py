"""Your own model (aelab.models.own): the complete example of docs/own-model.md (tests/own_models.py), imported with
the CLI and used through aelab's interface; pytorch/examples' VAE as written there; entry points that fail each way;
headers naming code nobody allowed. On every page of the app: tests/app/test_app_own_model.py."""

from __future__ import annotations

import sys
from contextlib import ExitStack

import numpy as np
import pytest
import torch
from own_models import EXAMPLE, run_cli

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
    save_tensors,
)


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
    found = own["folder"] / "found.safetensors"
    code, err = run_cli("import", entry, weights, "--out", found)  # its flat input is found: images fail, vectors do
    assert code == 0, err
    out = own["folder"] / "examples-vae.safetensors"
    code, err = run_cli("import", entry, weights, "--flat", "--output", "probabilities", "--out", out)
    assert code == 0, err
    allowed(entry)
    assert load_checkpoint(found).model.config.flat
    ckpt = load_checkpoint(out)
    assert ckpt.model.is_variational and ckpt.model.latent_dim == 20
    x = mnist_test.images[:64]
    mu, logvar = ckpt.model.posterior(x)
    assert mu.shape == logvar.shape == (64, 20)
    # its sigmoid outputs become logits: the decode aelab shows is the network's own, to the clamp
    with torch.no_grad():
        net = ckpt.model.network
        assert torch.allclose(
            torch.sigmoid(ckpt.model.decode(mu)).flatten(1), net.decode(mu).clamp(1e-6, 1 - 1e-6), atol=1e-5
        )
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
    code, err = run_cli(
        "import", "others:colour_tiny", own["folder"] / "colour_tiny.safetensors", "--dataset", "shapes", "--out", out
    )
    assert code == 0, err
    allowed("others:colour_tiny")
    ckpt = load_checkpoint(out)
    assert ckpt.model.image_shape == (3, 64, 64) and ckpt.model.latent_dim == 6
    metrics = ckpt.meta["metrics"]
    assert metrics["dataset"] == "shapes test" and 0 <= metrics["mig"] <= 1 and len(metrics["dimension_factors"]) == 6
    pictures = encoding.decode(ckpt.model, np.zeros((2, 6), np.float32))
    assert pictures.shape == (2, 64, 64, 3)
    code, err = run_cli("import", "others:colour_tiny", own["folder"] / "colour_tiny.safetensors", "--out", out)
    assert (
        code == 2 and "others:colour_tiny: its encode raised on images (1, 28, 28): RuntimeError" in err
    )  # MNIST's 1x28x28: one line


@pytest.mark.parametrize(
    "entry, weights, message",
    [
        ("others:raises", "tiny", "others:raises raised RuntimeError: no GPU here"),
        ("others:not_a_module", "tiny", "others:not_a_module returned a int, not a torch.nn.Module"),
        ("others:encode_only", "encode_only", "returned a EncodeOnly without decode"),
        ("others:nowhere", "tiny", "others has no function nowhere"),
        ("no_such_module:build", "tiny", "importing no_such_module failed (ModuleNotFoundError"),
        ("others:drops_the_batch", "drops_the_batch", "its encode gave codes of shape (3,) for 8 images"),
        ("others:nan_decoder", "nan_decoder", "its decode gave NaN or infinity for 256 of 256 inputs"),
        ("others:tiny", "posterior_vae", "does not hold others:tiny's weights: it lacks 4 of the network's tensors"),
        ("others:tiny", "no_such_file", "no_such_file.safetensors is not a readable safetensors file"),
    ],
    ids=[
        "raises",
        "not-a-module",
        "no-decode",
        "no-function",
        "no-module",
        "drops-batch",
        "nan",
        "other-weights",
        "no-file",
    ],
)
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
    with pytest.raises(
        CheckpointError,
        match=r"its encode gave shape \(3, 8\) for 3 images; it should give codes \(3, 9\)",
    ):
        load_checkpoint(lying)


def test_a_network_that_gives_nan_on_real_data_is_stopped_with_one_line(own, mnist_test):
    from others import nan_on_digits

    out = own["folder"] / "nan-on-digits.safetensors"
    code, err = run_cli("import", "others:nan_on_digits", own["folder"] / "nan_on_digits.safetensors", "--out", out)
    # the real test images it is imported on find it out, and nothing is written
    assert code == 2 and "others:nan_on_digits: its encode gave NaN or infinity for 256 of 256 inputs" in err, err
    assert not out.exists()
    model = OwnModel(OwnModelConfig("others:nan_on_digits", 3, False), nan_on_digits())
    with pytest.raises(EntryPointError, match="its encode gave NaN or infinity for 100 of 100 inputs"):
        encoding.encode_all(model, mnist_test.images[:100], batch_size=100)


def test_own_model_configs_are_checked_like_aelabs(own):
    good = OwnModelConfig("pkg.mod:build", 8, True, channels=3, side=64)
    assert from_header(good.to_dict()) == good
    for bad, match in (
        ({"entry": "pkg.mod"}, "entry must read"),
        ({"latent_dim": 10**6}, "latent_dim"),
        ({"side": 4}, "side"),
        ({"output": "pixels"}, "output"),
        ({"flat": "yes"}, "flat"),
        ({"widths": [8]}, "Unknown own model config fields"),
    ):
        with pytest.raises(ValueError, match=match):
            from_header(good.to_dict() | bad)
