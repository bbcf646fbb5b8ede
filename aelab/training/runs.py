"""Where models live (the shipped starters and the user's runs), what a run may be called and how it ended."""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from aelab.settings import current
from aelab.store.checkpoints import SUFFIX
from aelab.training.config import TrainConfig

DEFAULT_MODEL = "vae"  # the shipped model the app opens on: a VAE, fast to encode
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def runs_dir() -> Path:
    """Where models trained in the app are saved (and listed from): aelab.settings' runs folder."""
    return current().runs_dir


def shipped_dir() -> Path:
    """The starter checkpoints' folder: aelab.settings' checkpoints folder."""
    return current().checkpoints_dir


def label_for(path: Path) -> str:
    """The model picker's label: the file's stem, marked when the user trained it."""
    return path.stem if path.parent == shipped_dir() else f"{path.stem} (yours)"


def run_path(name: str) -> Path:
    return runs_dir() / f"{name}{SUFFIX}"


def default_name(cfg: TrainConfig, data: str, tag: str | None = None) -> str:
    """A run name that says what `cfg` trains, e.g. vae-mnist-z20-b4-gaussian0.3-20ep; `tag` (a served
    session's own) goes last, so that two people choosing the same settings do not pick one name."""
    model = cfg.model
    parts = [model.name, re.sub(r"[^A-Za-z0-9._-]+", "-", data).strip("-.") or "data", f"z{model.latent_dim}"]
    if model.beta != 1.0:
        parts.append(f"b{model.beta:g}")
    if cfg.noise:
        parts.append(f"{cfg.noise}{cfg.noise_level:g}")
    return "-".join([*parts, f"{cfg.epochs}ep", *([tag] if tag else [])])


def chosen_name(typed: str, suggested: str, suggestions: Collection[str]) -> str:
    """The run's name: what the person typed, else `suggested` (from the settings being trained).

    A name the page suggested earlier is not the person's own: a rerun can bring back a stale
    one from the browser, and the file must describe the model that was trained.
    """
    typed = typed.strip()
    return suggested if not typed or typed in suggestions else typed


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a run's file name in the runs folder, or None when it can."""
    if not NAME_RE.fullmatch(name):
        return (
            "Use 1 to 80 letters, digits, '.', '-' or '_', starting with a letter or digit "
            "(no spaces or path separators)."
        )
    if name.endswith(".resume"):
        return "Names ending in .resume are kept for resume states."
    if name in {p.stem for p in shipped_dir().glob(f"*{SUFFIX}")}:  # two "vae" in the picker would confuse
        return f"{name} is the name of a model that ships with aelab: choose another."
    return None


def _denoises(meta: dict) -> bool:
    """Whether a checkpoint's metadata says it was trained on noisy inputs with clean targets."""
    return bool((meta.get("train") or {}).get("noise"))


def default_for_role(options: dict[str, str], metas: dict[str, dict], wanted: str, denoising: bool) -> str:
    """The picker label to start on: `wanted` when listed, else the first model that was (or was not) trained
    to denoise according to its metadata (by path in `metas`), else the first."""
    if wanted in options:
        return wanted
    for label, path in options.items():
        if _denoises(metas.get(path, {})) == denoising:
            return label
    return next(iter(options))


def denoise_defaults(options: dict[str, str], metas: dict[str, dict]) -> tuple[str, str, bool]:
    """The Denoise page's two pickers' first models (a denoiser, then a plain one; two different models
    whenever two are listed) and whether any listed model was trained to denoise at all."""
    first = default_for_role(options, metas, "denoising_conv_ae", True)
    others = {label: path for label, path in options.items() if label != first} or options
    second = default_for_role(others, metas, "conv_ae", False)
    return first, second, any(_denoises(metas.get(path, {})) for path in options.values())
