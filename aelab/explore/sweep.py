"""A recorded beta sweep: VAEs trained under one budget at several betas (and as beta-TCVAEs), several seeds
each, with their held-out MIG, reconstruction and KL. bench/beta_sweep.py trains them and writes the file
(RESULTS_FILE, beside the starter checkpoints); the app reads it back and draws what it shows.

Whether beta > 1 disentangles depends on the seed and the budget (Locatello et al. 2019), so a claim about
it is read off every seed, never one pair of models: `summarise` gives each configuration's mean, min and
max MIG, and `verdict` says whether the goal held (GOAL_MIG) in words.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from aelab.models.config import OBJECTIVES
from aelab.store.files import atomic_write

RESULTS_FILE = "beta_sweep.json"
GOAL_MIG = 0.3  # issue #26's goal: the best beta > 1 or beta-TCVAE model reaches it, above every beta=1 seed
FORMAT = "aelab-beta-sweep"


@dataclass(frozen=True)
class Run:
    """One trained model of the sweep and what it scored on the held-out test split."""

    objective: str  # aelab.models.config.OBJECTIVES
    beta: float
    seed: int
    mig: float
    mig_per_factor: dict[str, float]
    recon: float  # nats per image
    kl: float  # nats per image, the whole KL at weight 1
    active_units: int
    train_seconds: float
    command: str  # the `python -m aelab train ...` that trained it

    @property
    def config(self) -> str:
        """The configuration it is a seed of, as people write it: 'beta 4', 'beta-TCVAE 6'."""
        return f"beta-TCVAE {self.beta:g}" if self.tcvae else f"beta {self.beta:g}"

    @property
    def tcvae(self) -> bool:
        return self.objective != OBJECTIVES[0]


@dataclass(frozen=True)
class Sweep:
    """The runs and how they were made."""

    runs: tuple[Run, ...]
    command: str  # the sweep's own command
    date: str
    commit: str
    threads: int
    budget: str  # the one budget every run had, in words (epochs, batch, steps)
    dataset: str
    model: str  # describe() of the model every run trained

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=1)


def save(sweep: Sweep, path: str | Path) -> None:
    atomic_write(path, (sweep.to_json() + "\n").encode())


def load(path: str | Path) -> Sweep:
    """The sweep recorded at `path`; ValueError for a file that is not one (its message says why)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{Path(path).name} cannot be read as a recorded sweep: {err}") from None
    if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
        raise ValueError(f"{Path(path).name} is not a recorded beta sweep")
    try:
        runs = tuple(Run(**run) for run in data.pop("runs"))
        sweep = Sweep(runs=runs, **data)
    except (TypeError, KeyError) as err:
        raise ValueError(f"{Path(path).name} is missing or has unknown fields: {err}") from None
    for run in runs:
        if run.objective not in OBJECTIVES or not all(math.isfinite(v) for v in (run.mig, run.recon, run.kl)):
            raise ValueError(f"{Path(path).name}: a run has an unknown objective or a non-finite score")
    return sweep
