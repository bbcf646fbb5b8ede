"""Every AELAB_* environment variable, read here into one frozen `Settings`; docs/settings.md is its table.

A field's variable is AELAB_ and its name in capitals; its metadata says how the variable is read, its
default in words and what it means, so the parser, the docs and the tests' `settings` fixture share one
list. `current()` reads `os.environ` once per process (a process's environment does not change under it);
tests that change variables call `reload()`. A value aelab cannot use raises SettingsError naming its
variable: the app shows that one line before any page, the command line prints it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

PREFIX = "AELAB_"
CHECKOUT = Path(__file__).resolve().parents[1]
# Installed from a wheel (`pip install .`), the package sits in site-packages with no checkout around it: its data
# and runs then go where a command-line tool keeps them, never into the interpreter's folders.
IN_CHECKOUT = (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "app.py").is_file()
SHIPPED_DIR = CHECKOUT / "checkpoints"  # the starter models that ship with aelab
SHARED_DATA_DIR = CHECKOUT.parent / "shared" / "datasets"  # where this project's machines keep MNIST
DEFAULT_CACHE_DIR = Path("~/.cache/aelab")
DEFAULT_DATA_DIR = CHECKOUT / "data" if IN_CHECKOUT else DEFAULT_CACHE_DIR / "data"
DEFAULT_RUNS_DIR = CHECKOUT / "runs" if IN_CHECKOUT else Path("runs")
MAX_PIXELS = 25_000_000  # per image: a large phone photo; anything bigger is refused before decoding
SERVED_SESSION_TIMEOUT = 600.0  # seconds: a closed laptop lid or a reconnect does not end a run
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """An environment variable the operator set cannot be used; the message names it."""


@dataclass(frozen=True)
class Limits:
    """How much one folder or zip may bring in. Folders and zips obey the same numbers, checked
    while indexing (before any image is read) and again on the bytes really read."""

    files: int  # image files (for a zip: entries of any kind)
    bytes: int  # their total size (a zip's: unpacked)
    pixels: int  # per image, at most MAX_PIXELS
    seconds: float  # indexing and reading together


# A person's own machine: generous (MNIST's 70,000 digits as PNGs fit) but bounded.
LOCAL_LIMITS = Limits(files=100_000, bytes=1024 * 2**20, pixels=MAX_PIXELS, seconds=600.0)
# A served app's: a class's folders and zips of digits fit; a user's load takes 2 minutes at most.
SERVED_LIMITS = Limits(files=20_000, bytes=200 * 2**20, pixels=12_000_000, seconds=120.0)
# What a folder or zip streamed from disk may hold: memory keeps only its files' names.
STREAM_LIMITS = Limits(files=1_000_000, bytes=2**40, pixels=MAX_PIXELS, seconds=3600.0)
DEFAULT_WORKERS = 2  # DataLoader processes reading a stream


def variable(name: str) -> str:
    """The environment variable of the `Settings` field `name`."""
    if name not in {f.name for f in fields(Settings)}:
        raise KeyError(f"Settings has no field {name!r}")
    return PREFIX + name.upper()


# --- how a variable's text becomes a value: (variable, its text or None when unset) -> value ------------


def _path(default: Path | Callable[[], Path]) -> Callable[[str, str | None], Path]:
    def parse(name: str, value: str | None) -> Path:
        chosen = (value or "").strip()
        return Path(chosen).expanduser() if chosen else (default() if callable(default) else default).expanduser()

    return parse


def _flag(name: str, value: str | None) -> bool | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if text in _TRUE + _FALSE:
        return text in _TRUE
    raise SettingsError(f"{name} is {text!r}: use 1 or 0.")


def _switch(name: str, value: str | None) -> bool:
    return bool(_flag(name, value))


def _number(allow_zero: bool = False) -> Callable[[str, str | None], float | None]:
    """A positive number (0 too with `allow_zero`); None when unset."""

    def parse(name: str, value: str | None) -> float | None:
        text = (value or "").strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
            raise SettingsError(f"{name} is {text!r}: use a positive number{' (or 0 for none)' if allow_zero else ''}.")
        return number

    return parse


def _megapixels(name: str, value: str | None) -> float | None:
    number = _number()(name, value)
    if number is not None and number * 1e6 > MAX_PIXELS:
        raise SettingsError(f"{name} is {number:g}: aelab decodes images of at most {MAX_PIXELS / 1e6:g} megapixels.")
    return number


def _folders(name: str, value: str | None) -> tuple[Path, ...] | None:
    if value is None:  # set but empty is a choice: no folder at all
        return None
    return tuple(
        Path(os.path.realpath(Path(part.strip()).expanduser())) for part in value.split(os.pathsep) if part.strip()
    )


def _entries(name: str, value: str | None) -> tuple[str, ...]:
    return tuple(entry.strip() for entry in (value or "").split(",") if entry.strip())


def _data_dir() -> Path:
    return SHARED_DATA_DIR if IN_CHECKOUT and SHARED_DATA_DIR.is_dir() else DEFAULT_DATA_DIR


def _setting(parse: Callable[[str, str | None], Any], default: str, meaning: str) -> Any:
    return field(metadata={"parse": parse, "default": default, "meaning": meaning})


def _served_or_local(local: str, served: str) -> str:
    return f"local: {local}; served: {served}"


@dataclass(frozen=True)
class Settings:
    """What the operator chose, as read from the environment. None: unset, so the default applies (for the
    served-or-local ones `aelab.serving.rules` picks it, once it knows the app's address)."""

    data_dir: Path = _setting(
        _path(_data_dir),
        "`../shared/datasets` beside the checkout when it exists, else "
        "`data/` in the checkout; installed without a checkout, `~/.cache/aelab/data`",
        "datasets in torchvision's layout: read from here, and `python -m aelab data` downloads here",
    )
    cache_dir: Path = _setting(
        _path(DEFAULT_CACHE_DIR),
        f"`{DEFAULT_CACHE_DIR}`",
        "latent codes, projections and the app's decoded test splits (`.npz`), streamed "
        "folders' decoded images (`--keep-decoded`, `.bin`); delete it at will",
    )
    runs_dir: Path = _setting(
        _path(DEFAULT_RUNS_DIR),
        "`runs/` in the checkout (without one, in the working folder)",
        "models trained in the app or brought in by `python -m aelab import`",
    )
    checkpoints_dir: Path = _setting(
        _path(SHIPPED_DIR), "`checkpoints/` in the checkout", "the starter models (never replaced)"
    )
    entry_points: tuple[str, ...] = _setting(
        _entries,
        "none",
        "the code of your own models aelab may run: comma-separated `module:function` or `/path/file.py:function`",
    )
    served: bool | None = _setting(
        _flag,
        "from the address: local on localhost, served on any other",
        "`1` or `0`: served or local whatever the address",
    )
    allowed_folders: tuple[Path, ...] | None = _setting(
        _folders,
        _served_or_local("any folder", "the data folder"),
        "folders browser users may train from, separated by `:` (`;` on Windows); set but empty: none",
    )
    shared_runs: bool = _setting(
        _switch, "`0`", "`1`: in a served app, any session may replace any trained run (never a shipped one)"
    )
    session_timeout: float | None = _setting(
        _number(allow_zero=True),
        _served_or_local("none", f"{SERVED_SESSION_TIMEOUT:g}"),
        "seconds a training run outlives its owner's last sign of life; `0`: it never stops",
    )
    max_files: float | None = _setting(
        _number(),
        _served_or_local(f"{LOCAL_LIMITS.files:,}", f"{SERVED_LIMITS.files:,}"),
        "image files in one folder or zip (a zip: entries of any kind)",
    )
    max_mb: float | None = _setting(
        _number(),
        _served_or_local(f"{LOCAL_LIMITS.bytes / 2**20:g}", f"{SERVED_LIMITS.bytes / 2**20:g}"),
        "megabytes in one folder or zip (a zip: unpacked)",
    )
    max_megapixels: float | None = _setting(
        _megapixels,
        _served_or_local(f"{LOCAL_LIMITS.pixels / 1e6:g}", f"{SERVED_LIMITS.pixels / 1e6:g}"),
        f"megapixels of one image in a folder or zip, at most {MAX_PIXELS / 1e6:g}",
    )
    max_seconds: float | None = _setting(
        _number(),
        _served_or_local(f"{LOCAL_LIMITS.seconds:g}", f"{SERVED_LIMITS.seconds:g}"),
        "seconds indexing and reading one folder or zip may take",
    )

    def limits(self, served: bool) -> Limits:
        """The limits of one folder or zip: the served or local defaults, each replaced where its variable is set."""
        base = SERVED_LIMITS if served else LOCAL_LIMITS

        def chosen(value: float | None, default: float, unit: float = 1.0) -> float:
            return default if value is None else value * unit

        return Limits(
            files=int(chosen(self.max_files, base.files)),
            bytes=int(chosen(self.max_mb, base.bytes, 2**20)),
            pixels=int(chosen(self.max_megapixels, base.pixels, 1e6)),
            seconds=chosen(self.max_seconds, base.seconds),
        )


def read(environ: Mapping[str, str]) -> Settings:
    """The settings `environ` gives; SettingsError names the first variable that cannot be used."""
    values = {}
    for f in fields(Settings):
        name = variable(f.name)
        values[f.name] = f.metadata["parse"](name, environ.get(name))
    return Settings(**values)


@lru_cache(maxsize=1)
def current() -> Settings:
    """This process's settings, read from its environment on first use."""
    return read(os.environ)


def reload() -> None:
    """Have the next `current()` read the environment again: for tests, which change it."""
    current.cache_clear()
