"""The `train` command's flags, generated from TrainConfig's and ModelConfig's field metadata: the parser and
the command a run records (`train_command`) come from the same fields, so they cannot drift apart.

A field is a flag when its metadata has a "help"; "flag" names it where `--field-name` does not, "choices"
limits it, and "always" writes it in a recorded command even at its default. The type comes from the field's
type hint. A ModelConfig field that some kind presets (`Kind.defaults`) is unset on the command line, so the
kind's value applies. The flags a recorded command holds that are no config field (--side, --channels, --out)
are declared here too; those that only steer a run (--threads, --resume, ...) are the command line's own.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from aelab.data.folders import folder_spec
from aelab.data.registry import dataset_shape
from aelab.models.config import CHANNELS, DIGIT_SHAPE, KINDS, ModelConfig
from aelab.training.config import TrainConfig

PROG = "python -m aelab"
_METADATA = ("help", "flag", "choices", "always")  # the keys a field's metadata may give its flag


@dataclass(frozen=True)
class Flag:
    """One config field as a command-line flag."""

    owner: type  # TrainConfig or ModelConfig
    field: str
    option: str  # e.g. "--kl-warmup"
    arguments: dict[str, Any]  # add_argument's keywords
    always: bool

    @property
    def dest(self) -> str:
        return self.option.removeprefix("--").replace("-", "_")  # argparse's own rule


def _type_arguments(hint: object) -> dict[str, Any]:
    """add_argument's type (and nargs) for a field's type hint: `X | None` as X, `tuple[int, ...]` as ints."""
    inner = [arg for arg in get_args(hint) if arg is not type(None)]
    if get_origin(hint) is tuple:
        return {"type": inner[0], "nargs": "+"}
    if len(inner) == 1:  # optional
        return _type_arguments(inner[0])
    return {} if hint is str else {"type": hint}


def _flags(owner: type) -> list[Flag]:
    hints = get_type_hints(owner)
    preset = {name for kind in KINDS.values() for name in kind.defaults} if owner is ModelConfig else set()
    found = []
    for f in fields(owner):
        if "help" not in f.metadata:
            continue
        unknown = set(f.metadata) - set(_METADATA)
        if unknown:
            raise TypeError(f"{owner.__name__}.{f.name}: unknown flag metadata {sorted(unknown)}")
        arguments = {
            **_type_arguments(hints[f.name]),
            "help": f.metadata["help"],
            "default": None if f.name in preset else f.default,
        }
        if "choices" in f.metadata:
            arguments["choices"] = f.metadata["choices"]
        option = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
        found.append(Flag(owner, f.name, option, arguments, f.metadata.get("always", False)))
    return found


_ALL = [*_flags(ModelConfig), *_flags(TrainConfig)]
# Those written always lead, so every recorded command starts alike: --model, --dataset, --epochs.
_LEADING = tuple(flag for flag in _ALL if flag.always)
_SETTINGS = tuple(flag for flag in _ALL if not flag.always)
SHAPE_FLAGS = ("side", "channels")  # a folder's or zip's picture shape, ModelConfig's fields of those names


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """--side and --channels: the pictures a folder or zip becomes (a known dataset has its own shape)."""
    parser.add_argument(
        "--side",
        type=int,
        help="a folder or zip: convert its images to this many pixels a side "
        "(with neither flag: MNIST's digit recipe, 1x28x28)",
    )
    parser.add_argument("--channels", type=int, choices=CHANNELS, help="a folder or zip: 1 (gray) or 3 (RGB)")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags a recorded command holds, in the order `train_command` writes them."""
    for flag in _LEADING:
        parser.add_argument(flag.option, **flag.arguments)
    add_shape_arguments(parser)
    for flag in _SETTINGS:
        parser.add_argument(flag.option, **flag.arguments)
    parser.add_argument("--out", type=Path, required=True, help="checkpoint path (.safetensors)")


def train_config(args: argparse.Namespace, shape: tuple[int, int, int] | None = None) -> TrainConfig:
    """The run that parsed `train` arguments describe, for data of `shape` (C, H, W), which the model takes
    (None: the dataset's own shape, or what --side and --channels make of a folder)."""
    shape = shape or dataset_shape(args.dataset) or folder_spec(args.side, args.channels).shape
    given = {
        owner: {flag.field: getattr(args, flag.dest) for flag in _ALL if flag.owner is owner}
        for owner in (ModelConfig, TrainConfig)
    }
    model = ModelConfig.for_model(**given[ModelConfig], channels=shape[0], side=shape[1])
    return TrainConfig(model=model, **given[TrainConfig])


def train_command(cfg: TrainConfig, out: Path, plain: bool = False) -> str:
    """The `python -m aelab train ...` that trains `cfg` into `out`, flags in the parser's order, defaults
    left out: what a checkpoint trained in the app records, as the CLI records the command it ran.

    `out` is written relative to the working folder when inside it; `plain`: a folder's or zip's files were
    converted plainly (ImageData.plain), so its shape is written even at 1x28x28. A setting that no flag sets
    (val_fraction) raises ValueError rather than render a command that would train something else.
    """
    for f in fields(TrainConfig):
        value = getattr(cfg, f.name)
        if "help" not in f.metadata and f.default is not MISSING and value != f.default:
            raise ValueError(f"No flag sets {f.name} {value}: the command line always uses {f.default}.")
    defaults = {
        TrainConfig: TrainConfig(),
        ModelConfig: ModelConfig.for_model(cfg.model.name, channels=cfg.model.channels, side=cfg.model.side),
    }
    words = [*PROG.split(), "train", *_words(cfg, _LEADING, defaults)]
    if dataset_shape(cfg.dataset) is None and (plain or cfg.model.image_shape != DIGIT_SHAPE):  # a folder shaped
        words += [word for name in SHAPE_FLAGS for word in (f"--{name}", str(getattr(cfg.model, name)))]
    words += [*_words(cfg, _SETTINGS, defaults), "--out", str(_relative(out))]
    return shlex.join(words)


def _words(cfg: TrainConfig, flags: tuple[Flag, ...], defaults: dict[type, object]) -> list[str]:
    words = []
    for flag in flags:
        value = getattr(cfg.model if flag.owner is ModelConfig else cfg, flag.field)
        if value is None or (value == getattr(defaults[flag.owner], flag.field) and not flag.always):
            continue
        words += [flag.option, *(_word(v) for v in (value if isinstance(value, (list, tuple)) else [value]))]
    return words


def _word(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)  # repr: a float read back is the same float


def _relative(path: Path) -> Path:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path)
