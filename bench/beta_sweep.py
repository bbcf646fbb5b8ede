"""Does beta > 1 disentangle, seed after seed? MLP VAEs on the dsprites recipe (aelab.data.shapes.DSPRITES,
1x32x32) at beta 1, 2, 4 and 8 and as a beta-TCVAE, three seeds each, all under one budget (the same
epochs, batch and learning rate: the same number of steps), each trained by the CLI (`python -m aelab
train`, the path every starter takes), which records its held-out test metrics (MIG, recon, KL) in the
checkpoint. The results go to checkpoints/beta_sweep.json (aelab.explore.sweep), rewritten after each run.

    nice -n 15 python bench/beta_sweep.py [--epochs 30] [--seeds 0 1 2] [--jobs 2] [--ckpts /tmp/sweep/ckpts]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from common import ROOT

from aelab.explore import sweep  # noqa: E402
from aelab.models.config import OBJECTIVES, ModelConfig, describe  # noqa: E402
from aelab.store.checkpoints import read_metadata  # noqa: E402

CONFIGS = (
    *((OBJECTIVES[0], beta) for beta in (1.0, 2.0, 4.0, 8.0)),
    (OBJECTIVES[1], 6.0),
)  # TC weight 6: Chen et al.'s
MODEL = ["--model", "vae", "--dataset", "dsprites", "--latent-dim", "10", "--widths", "256", "256"]
DATASET = "dsprites"


def train_args(objective: str, beta: float, seed: int, epochs: int, batch: int, lr: float, out: Path) -> list[str]:
    """The `train` flags of one run: everything but objective, beta and seed is the same for all."""
    tc = ["--objective", objective] if objective != OBJECTIVES[0] else []
    return [
        *MODEL,
        "--epochs",
        str(epochs),
        "--beta",
        f"{beta:g}",
        *tc,
        "--batch-size",
        str(batch),
        "--lr",
        repr(lr),
        "--seed",
        str(seed),
        "--patience",
        "0",
        "--threads",
        "1",
        "--out",
        str(out),
    ]


def table(found: sweep.Sweep) -> str:
    """The sweep as docs/benchmarks.md shows it: MIG per configuration over its seeds, recon and KL means."""
    rows = [
        "| configuration | MIG mean | min | max | per seed | recon (nats) | KL (nats) |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in sweep.summarise(found):
        seeds = ", ".join(f"{m:.3f}" for m in g.migs)
        rows.append(
            f"| {g.config} | **{g.mean:.3f}** | {min(g.migs):.3f} | {max(g.migs):.3f} | {seeds} "
            f"| {g.recon:.1f} | {g.kl:.1f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ckpts", type=Path, default=Path("/tmp/sweep/ckpts"), help="where the models go")
    parser.add_argument("--out", type=Path, default=ROOT / "checkpoints" / sweep.RESULTS_FILE)
    parser.add_argument("--commit", help="the code's commit, when this runs from a copy of it (git archive)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, each on one thread")
    parser.add_argument("--reuse", action="store_true", help="keep a model in --ckpts that the same command made")
    parser.add_argument("--table", action="store_true", help="print the table of the sweep at --out, train nothing")
    args = parser.parse_args()
    if args.table:
        found = sweep.load(args.out)
        print(table(found), "", sweep.verdict(found)[1], sweep.mig_sentence(found), sep="\n")
        print(sweep.rate_distortion_sentence(found))
        return
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    commit = args.commit or head.stdout.strip()
    train_images = 9520 - int(9520 * 0.1)  # dsprites' training split less the trainer's 10% validation
    steps = args.epochs * -(-train_images // args.batch_size)
    model = ModelConfig.for_model("vae", latent_dim=10, widths=(256, 256), channels=1, side=32)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    # seed-major: a sweep cut short still has every configuration at the first seeds
    tasks = [(objective, beta, seed) for seed in args.seeds for objective, beta in CONFIGS]

    def one(task: tuple[str, float, int]) -> sweep.Run | None:
        objective, beta, seed = task
        tag = f"{'tcvae' if objective != OBJECTIVES[0] else 'beta'}{beta:g}_seed{seed}"
        out = args.ckpts / f"{tag}.safetensors"
        flags = train_args(objective, beta, seed, args.epochs, args.batch_size, args.lr, out)
        command = [sys.executable, "-m", "aelab", "train", *flags]
        if args.reuse and out.exists() and read_metadata(out).get("command", "").endswith(shlex.join(command[3:])):
            print(f"{tag}: kept from an earlier sweep with the same command", flush=True)
        else:
            print(f"[{datetime.datetime.now(datetime.UTC):%H:%M:%S}] {tag}", flush=True)
            log = (args.ckpts / f"{tag}.log").open("w")
            if subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode:
                print(f"{tag} failed: see {log.name}", flush=True)
                return None
        meta = read_metadata(out)
        metrics = meta["metrics"]
        print(f"{tag}: MIG {metrics['mig']:.3f} recon {metrics['recon']:.1f} KL {metrics['kl']:.1f}", flush=True)
        return sweep.Run(
            objective,
            beta,
            seed,
            metrics["mig"],
            metrics["mig_per_factor"],
            metrics["recon"],
            metrics["kl"],
            metrics["active_units"],
            round(sum(h["seconds"] for h in meta["history"]), 1),
            meta["command"],
        )

    args.ckpts.mkdir(parents=True, exist_ok=True)
    found: dict[int, sweep.Run] = {}
    with ThreadPoolExecutor(args.jobs) as pool:  # each run is its own one-thread process
        futures = {pool.submit(one, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            result = future.result()
            if result is None:
                continue
            found[futures[future]] = result
            record = sweep.Sweep(
                tuple(found[i] for i in sorted(found)),
                "python bench/beta_sweep.py " + shlex.join(sys.argv[1:]),
                f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
                commit,
                1,
                f"{args.epochs} epochs of {train_images} images, batch {args.batch_size} ({steps} steps), "
                f"lr {args.lr:g} cosine",
                DATASET,
                describe(model),
            )
            sweep.save(record, args.out)


if __name__ == "__main__":
    main()
