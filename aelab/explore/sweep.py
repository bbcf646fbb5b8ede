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


@dataclass(frozen=True)
class Summary:
    """One configuration over its seeds."""

    config: str
    beta: float
    tcvae: bool
    seeds: tuple[int, ...]
    migs: tuple[float, ...]
    recon: float  # mean over the seeds
    kl: float

    @property
    def mean(self) -> float:
        return sum(self.migs) / len(self.migs)


def summarise(sweep: Sweep) -> list[Summary]:
    """Each configuration's seeds and mean scores: the beta-VAEs by beta, then the beta-TCVAEs."""
    groups: dict[tuple[bool, float], list[Run]] = {}
    for run in sweep.runs:
        groups.setdefault((run.tcvae, run.beta), []).append(run)
    return [
        Summary(
            runs[0].config,
            beta,
            tcvae,
            tuple(r.seed for r in runs),
            tuple(r.mig for r in runs),
            sum(r.recon for r in runs) / len(runs),
            sum(r.kl for r in runs) / len(runs),
        )
        for (tcvae, beta), runs in sorted(groups.items())
    ]


def baseline(sweep: Sweep) -> list[Run]:
    """The plain VAEs (beta 1): what beta > 1 must beat."""
    return [r for r in sweep.runs if not r.tcvae and math.isclose(r.beta, 1.0)]


def best(sweep: Sweep) -> Run | None:
    """The run with beta > 1 or a beta-TCVAE objective that scores the highest MIG; None if there is none."""
    contenders = [r for r in sweep.runs if r.tcvae or r.beta > 1]
    return max(contenders, key=lambda r: r.mig, default=None)


def sibling(sweep: Sweep, run: Run) -> Run | None:
    """The beta=1 run of `run`'s seed: the same data, budget and initial weights, beta alone changed."""
    return next((r for r in baseline(sweep) if r.seed == run.seed), None)


def verdict(sweep: Sweep) -> tuple[bool, str]:
    """Whether the goal held (the best beta > 1 or beta-TCVAE model scores MIG >= GOAL_MIG and above every
    beta=1 seed), and one sentence saying so with the figures."""
    top, plain = best(sweep), [r.mig for r in baseline(sweep)]
    if top is None or not plain:
        return False, "The sweep needs beta=1 runs and runs with beta > 1 to say whether beta > 1 helps."
    above = top.mig > max(plain)
    held = top.mig >= GOAL_MIG and above
    said = (
        f"the best model with beta > 1 ({top.config}, seed {top.seed}) scores MIG {top.mig:.2f}, "
        f"{'above' if above else 'not above'} every beta=1 seed (best {max(plain):.2f})"
    )
    if held:
        return True, f"Goal met: {said}, and at least {GOAL_MIG:g}."
    return False, f"Goal not met: {said}{'' if top.mig >= GOAL_MIG else f', and below {GOAL_MIG:g}'}."


def mig_sentence(sweep: Sweep) -> str:
    """What the MIG-against-beta figure shows, in one plain sentence read off the numbers."""
    groups = summarise(sweep)
    plain = next((g for g in groups if not g.tcvae and math.isclose(g.beta, 1.0)), None)
    top = max(groups, key=lambda g: g.mean)
    spread = max(max(g.migs) - min(g.migs) for g in groups)
    if plain is None or top is plain:
        return (
            f"Mean MIG is highest for {top.config} ({top.mean:.2f}); seeds of one configuration differ by up to "
            f"{spread:.2f}."
        )
    spread_of = max(groups, key=lambda g: max(g.migs) - min(g.migs)).config
    if min(top.migs) > max(plain.migs):
        reading = f"every seed of {top.config} scores above every beta 1 seed"
    else:
        reading = (
            f"their seeds overlap ({top.config} {min(top.migs):.2f} to {max(top.migs):.2f}, beta 1 "
            f"{min(plain.migs):.2f} to {max(plain.migs):.2f}), so one pair of models can show either order"
        )
    return (
        f"Mean MIG is {plain.mean:.2f} at beta 1 and highest for {top.config} ({top.mean:.2f}); {reading}, "
        f"and seeds of one configuration differ by up to {spread:.2f} ({spread_of})."
    )


def rate_distortion_sentence(sweep: Sweep) -> str:
    """What the KL-against-reconstruction figure shows, in one sentence read off the numbers."""
    vaes = [g for g in summarise(sweep) if not g.tcvae]
    low, high = vaes[0], vaes[-1]
    if len(vaes) < 2:
        return f"{low.config}: KL {low.kl:.1f} nats, reconstruction {low.recon:.1f} nats per image."
    kl_falls = all(a.kl > b.kl for a, b in zip(vaes, vaes[1:]))
    recon_rises = all(a.recon < b.recon for a, b in zip(vaes, vaes[1:]))
    trend = (
        "each step up in beta buys a smaller code (KL) with a worse reconstruction"
        if kl_falls and recon_rises
        else "the two do not move in step with beta"
    )
    return (
        f"From {low.config} to {high.config} the KL goes from {low.kl:.1f} to {high.kl:.1f} nats and the "
        f"reconstruction error from {low.recon:.1f} to {high.recon:.1f} nats per image: {trend}."
    )
