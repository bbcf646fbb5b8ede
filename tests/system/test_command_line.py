"""The command line run as a user runs it: `python -m aelab` in a subprocess, training, evaluating and saying what
is wrong in one line. Parsing and the recorded command, in-process: tests/unit/test_cli.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets

from aelab.cli import main
from aelab.data import shapes
from aelab.data.registry import data_dir
from aelab.explore import encoding
from aelab.images import render
from aelab.store.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "aelab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        timeout=600,
    )


def test_train_then_evaluate_from_the_command_line(tmp_path):
    out = tmp_path / "vae.safetensors"
    done = run(
        "train",
        "--model",
        "vae",
        "--latent-dim",
        "8",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--seed",
        "1",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "epoch 2:" in done.stdout and "test: recon" in done.stdout
    ev = run("evaluate", str(out), "--json")
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)
    assert metrics["images"] == 10_000 and metrics["nelbo"] > metrics["kl"] > 0
    assert len(metrics["kl_per_dim"]) == 8 and 0 <= metrics["active_units"] <= 8
    text = run("evaluate", str(out)).stdout
    assert "KL per dim" in text and "active_units" in text

    resumed = run(
        "train",
        "--model",
        "vae",
        "--latent-dim",
        "8",
        "--epochs",
        "3",
        "--batch-size",
        "64",
        "--seed",
        "1",
        "--out",
        str(out),
        "--resume",
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 3:" in resumed.stdout and "epoch 1:" not in resumed.stdout


def test_command_line_errors_are_one_clear_line(tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 100)
    ev = run("evaluate", str(broken))
    assert ev.returncode == 2 and ev.stderr.startswith("error:") and "Traceback" not in ev.stderr
    no_data = run("train", "--dataset", str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "x.safetensors"))
    assert no_data.returncode == 2 and "Unknown dataset" in no_data.stderr and "Traceback" not in no_data.stderr


def test_data_command_says_where_the_data_is_or_what_is_missing(tmp_path, monkeypatch, capsys, settings):
    done = run("data")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"mnist: train and test splits in {data_dir()}\n"

    # Offline, even on a machine that is not: torchvision's real download code meets a closed port.
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with settings(data_dir=tmp_path):
        assert main(["data", "mnist"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: MNIST (train split) is not in") and err.count("\n") == 1
        assert str(tmp_path / "MNIST" / "raw") in err and "train-images-idx3-ubyte and train-labels-idx1-ubyte" in err
        assert "Download failed" in err and "Traceback" not in err
        assert main(["data", "cifar"]) == 2 and "Unknown dataset 'cifar'" in capsys.readouterr().err


def test_evaluate_estimates_the_log_likelihood_and_stores_it(tmp_path):
    from aelab.settings import SHIPPED_DIR
    from aelab.store.checkpoints import read_metadata

    out = tmp_path / "vae.safetensors"
    out.write_bytes((SHIPPED_DIR / "vae.safetensors").read_bytes())
    ev = run("evaluate", str(out), "--iwae", "20", "--iwae-images", "30", "--json")
    assert ev.returncode == 0, ev.stderr
    iwae = json.loads(ev.stdout)["iwae"]
    assert iwae["k"] == 20 and iwae["images"] == 30 and not iwae["stopped"] and iwae["stderr"] > 0
    assert read_metadata(out)["metrics"]["iwae"]["nll"] == iwae["nll"]
    text = run("evaluate", str(out), "--iwae", "5", "--iwae-images", "10").stdout
    assert "-log p(x)" in text and "k=5, 10 images" in text
    from aelab.explore.metrics import record_test_metrics

    stored = read_metadata(out)["metrics"]["iwae"]
    record_test_metrics(out, "mnist")  # a new evaluation of the same weights keeps the slow bound
    assert read_metadata(out)["metrics"]["iwae"] == stored
    ae = run("evaluate", str(SHIPPED_DIR / "conv_ae.safetensors"), "--iwae")
    assert ae.returncode == 2 and "not variational" in ae.stderr and "Traceback" not in ae.stderr


def test_evaluate_scores_disentanglement_where_the_data_has_factors(tmp_path):
    """On the shapes dataset (known generating factors), evaluate reports MIG, per factor, and the factor
    each code dimension follows; the same figures the package computes from the codes."""
    import torch

    from aelab.data import shapes
    from aelab.data.registry import load_dataset
    from aelab.explore import disentangle
    from aelab.models.autoencoders import build_model
    from aelab.models.config import ModelConfig
    from aelab.store.checkpoints import save_checkpoint

    torch.manual_seed(0)
    model = build_model(ModelConfig.for_model("vae", latent_dim=6, widths=[64], channels=3, side=64))
    out = tmp_path / "shapes_vae.safetensors"
    save_checkpoint(out, model)
    ev = run("evaluate", str(out), "--dataset", "shapes", "--json")
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)
    test = load_dataset("shapes", "test")
    expected = disentangle.mig(encoding.encode_all(model, test.images).mu, test.factors)
    assert metrics["mig"] == pytest.approx(expected.score, abs=1e-3)
    assert list(metrics["mig_per_factor"]) == list(shapes.FACTOR_NAMES)
    assert len(metrics["dimension_factors"]) == 6 and {name for name, _ in metrics["dimension_factors"]} <= set(
        shapes.FACTOR_NAMES
    )
    text = run("evaluate", str(out), "--dataset", "shapes").stdout
    assert "MIG " in text and "each dimension follows: 0:" in text


def test_the_cli_trains_a_colour_model_on_a_folder_at_the_shape_asked(tmp_path):
    folder = tmp_path / "colour"
    for i, picture in enumerate(render.to_pictures(torch.from_numpy(shapes.make_shapes(60, 1, 64, 3)[0]))):
        (folder / str(i % 2)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((picture * 255).round().astype(np.uint8)).save(folder / str(i % 2) / f"{i}.png")
    out = tmp_path / "cvae.safetensors"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aelab",
            "train",
            "--model",
            "conv_vae",
            "--dataset",
            str(folder),
            "--side",
            "32",
            "--channels",
            "3",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "converted to 3x32x32 RGB" in done.stdout and "test: recon" in done.stdout
    ckpt = load_checkpoint(out)
    assert ckpt.model.image_shape == (3, 32, 32) and ckpt.meta["command"].endswith(
        f"--side 32 --channels 3 --epochs 1 --batch-size 16 --threads 1 --out {out}"
    )
    evaluated = subprocess.run(
        [sys.executable, "-m", "aelab", "evaluate", str(out), "--dataset", str(folder), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["images"] == 12
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "aelab",
            "train",
            "--dataset",
            "mnist",
            "--side",
            "300",
            "--out",
            str(tmp_path / "x.safetensors"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )  # MNIST is padded or resized to a model's side (aelab.data.registry.fitted), within the limits on sides
    assert wrong.returncode == 2 and "side" in wrong.stderr and "Traceback" not in wrong.stderr, wrong.stderr
