"""The recorded beta sweep: read back as written, refused when it is not one, and read off honestly."""

from __future__ import annotations

import json

import pytest

from aelab.explore import sweep
from aelab.models.config import OBJECTIVES
from aelab.settings import SHIPPED_DIR


def run(beta: float, seed: int, mig: float, tcvae: bool = False, recon: float = 50.0, kl: float = 10.0) -> sweep.Run:
    return sweep.Run(
        OBJECTIVES[1] if tcvae else OBJECTIVES[0],
        beta,
        seed,
        mig,
        {"x": mig},
        recon,
        kl,
        10,
        12.5,
        f"python -m aelab train --beta {beta:g} --seed {seed}",
    )


def record(*runs: sweep.Run) -> sweep.Sweep:
    return sweep.Sweep(runs, "python bench/beta_sweep.py", "2026-12-07 17:00 UTC", "abc1234", 1, "1 epoch", "d", "m")


def test_a_sweep_reads_back_as_it_was_written(tmp_path) -> None:
    written = record(run(1, 0, 0.1), run(4, 0, 0.2), run(6, 0, 0.35, tcvae=True))
    sweep.save(written, tmp_path / "s.json")
    assert sweep.load(tmp_path / "s.json") == written


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "cannot be read"),
        (json.dumps({"format": "other"}), "not a recorded beta sweep"),
        (json.dumps({"format": sweep.FORMAT, "runs": []}), "missing or has unknown fields"),
    ],
)
def test_a_file_that_is_no_sweep_is_refused_with_one_message(tmp_path, content: str, words: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=words):
        sweep.load(path)


def test_a_run_with_a_non_finite_score_or_unknown_objective_is_refused(tmp_path) -> None:
    data = json.loads(record(run(1, 0, 0.1)).to_json())
    data["runs"][0]["mig"] = float("nan")
    (tmp_path / "s.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="non-finite"):
        sweep.load(tmp_path / "s.json")


def test_configurations_are_summarised_over_their_seeds_beta_vaes_first() -> None:
    found = record(run(4, 0, 0.2), run(1, 0, 0.1), run(6, 1, 0.4, tcvae=True), run(1, 1, 0.3), run(4, 1, 0.45))
    groups = sweep.summarise(found)
    assert [g.config for g in groups] == ["beta 1", "beta 4", "beta-TCVAE 6"]
    assert groups[0].seeds == (0, 1) and groups[0].mean == pytest.approx(0.2) and groups[2].migs == (0.4,)
    assert sweep.best(found) == run(4, 1, 0.45)
    assert sweep.sibling(found, sweep.best(found)) == run(1, 1, 0.3)


@pytest.mark.parametrize(
    "migs, held, words",
    [
        ((0.1, 0.2, 0.35), True, "Goal met"),  # best beta > 1 above 0.3 and every beta=1 seed
        ((0.1, 0.2, 0.25), False, "and below 0.3"),  # above beta=1 but under the goal
        ((0.4, 0.2, 0.35), False, "not above every beta=1 seed"),  # a beta=1 seed scores higher
    ],
)
def test_the_verdict_says_whether_the_goal_held(migs, held: bool, words: str) -> None:
    plain, beta4, tcvae = migs
    said = sweep.verdict(record(run(1, 0, plain), run(1, 1, 0.05), run(4, 0, beta4), run(6, 0, tcvae, tcvae=True)))
    assert said[0] is held and words in said[1]


def test_the_sentences_follow_the_numbers() -> None:
    steady = record(
        run(1, 0, 0.1, recon=40, kl=12),
        run(1, 1, 0.12, recon=41, kl=12),
        run(4, 0, 0.3, recon=60, kl=6),
        run(4, 1, 0.32, recon=61, kl=6),
    )
    assert "every seed of beta 4 scores above every beta 1 seed" in sweep.mig_sentence(steady)
    assert "smaller code (KL) with a worse reconstruction" in sweep.rate_distortion_sentence(steady)
    noisy = record(run(1, 0, 0.0, recon=40, kl=5), run(1, 1, 0.5, recon=41, kl=5), run(4, 0, 0.3, recon=60, kl=6))
    assert "their seeds overlap (beta 4 0.30 to 0.30, beta 1 0.00 to 0.50)" in sweep.mig_sentence(noisy)
    assert "do not move in step" in sweep.rate_distortion_sentence(noisy)


def test_the_shipped_sweep_reads_back_with_every_configuration_at_three_seeds() -> None:
    found = sweep.load(SHIPPED_DIR / sweep.RESULTS_FILE)
    groups = sweep.summarise(found)
    assert [g.config for g in groups] == ["beta 1", "beta 2", "beta 4", "beta 8", "beta-TCVAE 6"]
    assert all(g.seeds == (0, 1, 2) for g in groups)
    assert all(r.command.startswith("python -m aelab train ") for r in found.runs)
