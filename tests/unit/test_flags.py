"""The train flags, generated from TrainConfig's and ModelConfig's fields: parsed, rendered, parsed again."""

import re
import shlex
from dataclasses import fields

import pytest

from aelab.cli import build_parser
from aelab.data.folders import folder_spec
from aelab.models.config import ModelConfig
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import read_metadata
from aelab.training.config import TrainConfig
from aelab.training.flags import train_command, train_config


@pytest.mark.parametrize(
    "command",
    [
        "--out a.safetensors",
        (
            "--model vae --latent-dim 8 --beta 4 --kl-warmup 2.5 --denoise mask --noise-level 0.5 --epochs 3 --seed 9 "
            "--out runs/v.safetensors"
        ),
        (
            "--model conv_vae --dataset /data/faces --side 64 --channels 3 --widths 16 32 64 64 --hidden 0 "
            "--activation elu --recon mse --lr 1e-3 --lr-schedule constant --shift 3 --shift-until 1 --patience 0 "
            "--max-seconds 60 --device cpu --batch-size 32 --out /elsewhere/f.safetensors"
        ),
        "--model conv_ae --dataset shapes --latent-dim 10 --widths 32 64 64 64 --denoise gaussian --out s.safetensors",
        "--dataset 'my digits.zip' --side 28 --channels 1 --model vae --hidden 0 --lr 0.123456789 --out d.safetensors",
        "--dataset /data/gray --epochs 1 --batch-size 7 --shift 1 --max-seconds 0.5 --out g.safetensors",
    ],
)
def test_a_parsed_command_rendered_and_parsed_again_is_the_same_run(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["train", *shlex.split(command)])
    cfg = train_config(args)
    rendered = train_command(cfg, args.out, _plain(args))
    again = build_parser().parse_args(shlex.split(rendered)[3:])
    assert train_config(again) == cfg and again.out == args.out
    # the pictures a folder or zip becomes are written too, so the data is read the same way
    assert folder_spec(again.side, again.channels) == folder_spec(args.side, args.channels)
    assert train_command(train_config(again), again.out, _plain(again)) == rendered  # a fixed point


def _plain(args) -> bool:
    """As ImageData.plain: a folder's or zip's files converted plainly, not by the digit recipe."""
    return args.side is not None or args.channels is not None


def test_every_field_that_is_a_flag_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    flagged = [f for cls in (TrainConfig, ModelConfig) for f in fields(cls) if "help" in f.metadata]
    assert len(flagged) == 22  # 14 of a run's settings and 8 of the model's
    for f in flagged:
        option = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
        assert re.search(rf"(?m)^  {re.escape(option)}(?= |$)", text), f"{f.name}: {option} not in train --help"
    assert "--val-fraction" not in text  # no flag sets it; train_command refuses a run that changed it


def test_the_shipped_checkpoints_record_commands_that_train_what_they_are():
    shipped = sorted(SHIPPED_DIR.glob("*.safetensors"))
    trained = [
        meta for meta in map(read_metadata, shipped) if meta.get("command", "").startswith("python -m aelab train ")
    ]
    assert len(trained) >= 7
    for meta in trained:
        args = build_parser().parse_args(shlex.split(meta["command"])[3:])
        assert train_config(args) == TrainConfig.from_dict(meta["train"]), meta["command"]
