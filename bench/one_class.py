"""Reconstruction error as a novelty detector: the one-class experiment for every MNIST digit.

For each digit d, train a fresh model on the training split without d (default) or on d
alone (--mode one_only), score all 10,000 test images, and report the AUROC of the score for
telling the unseen digits from the seen ones, under every score of anomaly.SCORES and the app's
verdict score, anomaly.TYPICALITY_SCORE (one trained model per digit, scored several ways); then
the means and the wall time.

    AELAB_DATA_DIR=../shared/datasets OMP_NUM_THREADS=1 python bench/one_class.py
    python bench/one_class.py --mode one_only --epochs 20 --score mse --digits 1 7 9
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from aelab.data.registry import load_dataset  # noqa: E402
from aelab.explore import anomaly  # noqa: E402
from aelab.models.autoencoders import MODELS  # noqa: E402
from aelab.training import one_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=list(MODELS), default="vae")
    parser.add_argument("--mode", choices=one_class.MODES, default="all_but_one")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--score",
        choices=list(anomaly.SCORES),
        default=None,
        help="default: the measured best for the mode (one_class.BEST_SCORE)",
    )
    parser.add_argument("--latent-dim", type=int)
    parser.add_argument("--digits", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 on a shared 2-core machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    train_data = load_dataset("mnist", "train", download=False)
    test_data = load_dataset("mnist", "test", download=False)
    score = args.score or one_class.BEST_SCORE[args.mode]
    print(
        f"{args.model}, {args.mode}, {args.epochs} epochs, ROC of score {score}; {len(train_data)} training and "
        f"{len(test_data)} test images; {torch.get_num_threads()} thread(s)"
    )
    compared = (*anomaly.SCORES, anomaly.TYPICALITY_SCORE)
    print("digit  train  seconds  " + "  ".join(f"{s:>13}" for s in compared))
    started = time.perf_counter()
    results = []
    for digit in args.digits:
        result = one_class.one_class_experiment(
            args.model,
            train_data,
            test_data,
            digit,
            mode=args.mode,
            epochs=args.epochs,
            score=score,
            latent_dim=args.latent_dim,
            seed=args.seed,
        )
        results.append(result)
        print(
            f"{digit:>5}  {result.train_images:>5}  {result.seconds:7.1f}  "
            + "  ".join(f"{result.aurocs[s]:13.3f}" for s in compared),
            flush=True,
        )
    means = [np.mean([r.aurocs[s] for r in results]) for s in compared]
    print(" mean                 " + "  ".join(f"{m:13.3f}" for m in means))
    print(f"mean AUROC ({score}): {np.mean([r.auroc for r in results]):.3f}")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
