"""The command line in-process: its parser and the command an app run records, which parses back to the same run.
Run as a user runs it (subprocesses): tests/system/test_command_line.py."""

import shlex
from pathlib import Path

import pytest

from aelab.cli import build_parser
from aelab.models.config import ModelConfig
from aelab.training.config import TrainConfig
from aelab.training.flags import train_command, train_config


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(),
        TrainConfig(
            model=ModelConfig.for_model("vae", latent_dim=8, beta=4.0),
            dataset="my digits.zip",
            epochs=30,
            batch_size=64,
            lr=1e-4,
            seed=7,
            kl_warmup_epochs=2.5,
            noise="salt_pepper",
            noise_level=0.15,
            patience=0,
        ),
        TrainConfig(
            model=ModelConfig.for_model("conv_vae", widths=(16, 32, 64), hidden=0, activation="relu", recon="mse"),
            dataset="/data/my folder",
            lr=0.123456789,
            shift=2,
            shift_until=0.8,
            lr_schedule="constant",
            max_seconds=30.5,
            device="cpu",
        ),
    ],
)
def test_the_command_an_app_run_records_parses_back_to_the_same_run(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = train_command(cfg, tmp_path / "runs" / "mine.safetensors")
    words = shlex.split(command)
    assert words[:4] == ["python", "-m", "aelab", "train"] and words[-2:] == ["--out", "runs/mine.safetensors"]
    args = build_parser().parse_args(words[3:])
    assert train_config(args) == cfg and args.out == Path("runs/mine.safetensors")
    assert train_command(cfg, Path("/elsewhere/x.safetensors")).endswith("--out /elsewhere/x.safetensors")


def test_the_default_run_reads_as_a_short_command_and_an_unflagged_setting_is_refused(tmp_path):
    assert train_command(TrainConfig(), tmp_path / "a.safetensors") == (
        f"python -m aelab train --model conv_ae --dataset mnist --epochs 20 --out {tmp_path}/a.safetensors"
    )
    with pytest.raises(ValueError, match="val_fraction"):
        train_command(TrainConfig(val_fraction=0.2), tmp_path / "a.safetensors")
