"""Own models as their authors wrote them (aelab.models.conventions, aelab.models.importing): each convention of
tests/convention_models.py imported with the right setting (aelab's figures are the model's own), with none (found,
or one line naming the flag) and with a wrong one (refused, naming the right one)."""

from __future__ import annotations

import contextlib
import io
import sys

import pytest
import torch
from convention_models import CASES, MODELS, imported

from aelab.cli import main
from aelab.explore import directions, encoding
from aelab.models.config import OwnModelConfig, allowing
from aelab.models.own import OwnModel
from aelab.store.checkpoints import Checkpoint, load_checkpoint

FOUND = {"output": ("probabilities", "logits", "tanh"), "posterior": ("scale", "variance", "logvar")}


def loaded(name: str, path) -> Checkpoint:
    """The checkpoint `import` wrote, its code allowed as AELAB_ENTRY_POINTS would."""
    with allowing(f"convention_models:{name}"):
        return load_checkpoint(path)


def own_pixels(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's own reconstruction of x in [0, 1], by its own code: the mean of a VAE's posterior decoded."""
    taken = net.taken(x)
    if hasattr(net, "parts"):
        return net.pixels(net.decode(net.parts(taken)[0]))
    return net.pixels(net(taken) if not hasattr(net, "decode") else net.decode(net.encode(taken)))


@pytest.mark.parametrize("name", CASES)
def test_each_convention_with_the_right_setting_gives_the_models_own_figures(name, conventions, mnist_test, tmp_path):
    flags = CASES[name][0]
    code, printed, err = imported(name, conventions[name], tmp_path / "m.safetensors", *flags)
    assert code == 0, err
    assert "check: aelab's reconstructions of 256 test images equal" in printed
    ckpt = loaded(name, tmp_path / "m.safetensors")
    x = mnist_test.images[:64]
    net = MODELS[name]()
    net.load_state_dict(ckpt.model.network.state_dict())
    with torch.no_grad():
        own = own_pixels(net.eval(), x).reshape(x.shape).clamp(1e-6, 1 - 1e-6)
    # aelab's pages reconstruct through encoding.reconstruct: its pixels are the model's own (tolerance: see
    # aelab.models.importing.TOLERANCE, float32 round trips on any CPU)
    torch.testing.assert_close(
        torch.from_numpy(encoding.reconstruct(ckpt.model, x)).reshape(x.shape), own, atol=1e-4, rtol=0
    )
    assert ckpt.meta["imported"]["check"]["difference"] <= 1e-4


@pytest.mark.parametrize("name", CASES)
def test_each_convention_with_no_setting_is_found_or_refused_naming_the_flag(name, conventions, tmp_path):
    found = CASES[name][1]
    code, printed, err = imported(name, conventions[name], tmp_path / "m.safetensors")
    if found.startswith("import it"):
        assert code == 2 and found in err and len(err.strip().splitlines()) == 1, err
        return
    assert code == 0, err
    config = loaded(name, tmp_path / "m.safetensors").model.config
    axis = "posterior" if found in FOUND["posterior"] else "output"
    assert getattr(config, axis) == found
    assert config.variational == name.endswith("_vae")


@pytest.mark.parametrize("name", CASES)
def test_each_convention_with_a_wrong_setting_is_refused_naming_the_right_one(name, conventions, tmp_path):
    _, _, wrong, line = CASES[name]
    code, printed, err = imported(name, conventions[name], tmp_path / "m.safetensors", *wrong)
    assert code == 2 and line in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "m.safetensors").exists()


def test_the_tanh_models_found_input_is_signed(conventions, tmp_path):
    code, _, err = imported("tanh", conventions["tanh"], tmp_path / "m.safetensors")
    assert code == 0, err
    assert loaded("tanh", tmp_path / "m.safetensors").model.config.inputs == "signed"


def test_an_entry_file_in_a_cloned_repository_imports_its_neighbours(conventions, tmp_path):
    """`from models import ...` in the entry file works as it does when the file is run, without PYTHONPATH."""
    repo = tmp_path / "cloned"
    repo.mkdir()
    (repo / "models.py").write_text("from convention_models import Logits as Net\n")
    (repo / "train.py").write_text("from models import Net\n\n\ndef build():\n    return Net()\n")
    before = list(sys.path)
    printed, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(err):
        code = main(
            [
                "import",
                f"{repo / 'train.py'}:build",
                str(conventions["logits"]),
                "--out",
                str(tmp_path / "m.safetensors"),
            ]
        )
    assert code == 0, err.getvalue()
    assert "found: --input unit --output logits" in printed.getvalue() and sys.path == before


def test_sefa_finds_the_first_linear_taking_the_code_anywhere_in_an_own_model():
    class DecoderInput(torch.nn.Module):  # a code-taking Linear named decoder_input, outside any `decoder`
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Linear(784, 4)
            self.decoder_input = torch.nn.Linear(4, 32)
            self.out = torch.nn.Linear(32, 784)

        def encode(self, x):
            return self.enc(x.flatten(1))

        def decode(self, z):
            return self.out(torch.relu(self.decoder_input(z)))

    torch.manual_seed(0)
    net = DecoderInput()
    model = OwnModel(OwnModelConfig("others:decoder_input", 4, False), net)
    assert directions.first_latent_layer(model) is net.decoder_input
    assert directions.sefa_directions(model, 2).vectors.shape == (2, 4)


def test_a_diffusers_autoencoder_kl_opens_from_its_folder(tmp_path):
    """Latent diffusion's VAE (spatial codes, [-1, 1] pixels, an output object) from a folder its save_pretrained
    wrote, trained here: imported with its conventions found, and aelab's figures its own."""
    from convention_models import train_kl

    from aelab.data.registry import load_dataset

    folder = train_kl(load_dataset("digits", "train").images, tmp_path / "kl")
    entry, out = f"diffusers:{folder}", tmp_path / "kl.safetensors"
    printed, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(err):
        wrong = main(["import", entry, "--dataset", "digits", "--out", str(out), "--output", "probabilities"])
        assert wrong == 2 and "import it with --output tanh --input signed" in err.getvalue(), err.getvalue()
        assert main(["import", entry, "--dataset", "digits", "--out", str(out)]) == 0, err.getvalue()
    assert "found: --input signed --output tanh" in printed.getvalue()
    assert "equal its forward" in printed.getvalue()
    with allowing(entry):
        ckpt = load_checkpoint(out)
    config = ckpt.model.config
    assert config.code_shape == (2, 14, 14) and config.latent_dim == 392 and config.variational
    x = load_dataset("digits", "test").images[:32]
    with torch.no_grad():
        own = (ckpt.model.network(x * 2 - 1).sample.clamp(-1, 1) + 1) / 2
    # the model's own forward, in pixels (tolerance: aelab.models.importing.TOLERANCE, float32 on any CPU)
    mine = torch.from_numpy(encoding.reconstruct(ckpt.model, x)).reshape(x.shape)
    torch.testing.assert_close(mine, own.clamp(1e-6, 1 - 1e-6), atol=1e-4, rtol=0)
    codes = encoding.encode(ckpt.model, x[:4, 0].numpy())
    assert codes.shape == (4, 392) and encoding.decode(ckpt.model, codes).shape == (4, 28, 28)


def test_a_model_of_another_side_imports_on_mnist_fitted_to_it_and_says_so(tmp_path):
    from convention_models import Wide
    from safetensors.torch import save_file

    from aelab.ui.model_card import card_facts

    torch.manual_seed(0)
    save_file(Wide().state_dict(), tmp_path / "wide.safetensors")
    printed, err = io.StringIO(), io.StringIO()
    out = tmp_path / "m.safetensors"
    args = ["import", "convention_models:Wide", str(tmp_path / "wide.safetensors"), "--out", str(out)]
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(err):
        assert main([*args, "--side", "32", "--channels", "3"]) == 0, err.getvalue()
    note = "MNIST padded from 28 to 32 px, gray repeated to 3 channels, as models of 3x32x32 RGB take it"
    assert note in printed.getvalue()
    with allowing("convention_models:Wide"):
        ckpt = load_checkpoint(out)
    assert ckpt.model.image_shape == (3, 32, 32) and card_facts(ckpt.meta)["data"] == note


def test_a_diffusers_model_id_that_cannot_be_fetched_gets_one_line(tmp_path, monkeypatch):
    """A model id is fetched by the operator's import (from the Hub's cache, then the network); here, offline and
    with an empty cache, the import refuses in one line naming what to do, and writes nothing."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out, err = tmp_path / "kl.safetensors", io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["import", "diffusers:nobody/no-such-vae", "--dataset", "digits", "--out", str(out)]) == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "diffusers:nobody/no-such-vae is neither a folder nor a model id" in lines[0]
    assert "name a folder save_pretrained wrote" in lines[0] and not out.exists()
