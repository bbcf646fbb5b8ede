"""Shapes and disentanglement scores: how fast the procedural dataset is drawn and the scores computed.

Prints, on one thread: the time to draw each side's sprites (once per process), images per second
for rendering `--images` shapes at each side and channel count (best and median of `--repeats`),
then MIG's and DCI's times on codes of `--dims` dimensions against the shapes' six factors (the
codes are a random mix of the factors plus noise, so the scores are only there to show the work was real).

    python bench/shapes.py
    python bench/shapes.py --images 60000 --codes 10000 --dci-codes 10000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy: one BLAS thread, as the app's workers use
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from aelab.data import shapes  # noqa: E402
from aelab.explore.disentangle import dci, mig  # noqa: E402


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000, help="shapes rendered per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--codes", type=int, default=10_000, help="codes scored by MIG")
    parser.add_argument("--dims", type=int, default=10)
    parser.add_argument("--dci-codes", type=int, default=2_000, help="codes scored by DCI (its trees are slow)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(
        f"shapes: {shapes.COMBINATIONS} combinations of {', '.join(shapes.FACTOR_NAMES)}; "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    )
    factors = shapes.sample_factors(max(args.images, args.codes), args.seed)
    for side in shapes.SIDES:
        seconds, _ = timed(lambda: shapes.render(factors[:1], side))  # draws this side's sprites
        first = " (with importing scikit-image)" if side == shapes.SIDES[0] else ""
        print(f"side {side}: sprites drawn in {seconds:.2f} s{first}")
        for channels in shapes.CHANNELS:
            times = sorted(
                timed(lambda: shapes.render(factors[: args.images], side, channels))[0] for _ in range(args.repeats)
            )
            print(
                f"  {side}x{side}x{channels}: {args.images / times[0]:,.0f} images/s best, "
                f"{args.images / times[len(times) // 2]:,.0f} median ({args.images:,} images, {args.repeats} runs)"
            )

    rng = np.random.default_rng(args.seed)
    mix = rng.normal(size=(len(shapes.FACTORS), args.dims))
    codes = factors[: args.codes] @ mix + rng.normal(0, 0.5, (args.codes, args.dims))
    timed(lambda: mig(codes[:100], factors[:100]))  # imports scikit-learn outside the timing
    seconds, result = timed(lambda: mig(codes, factors[: args.codes]))
    print(
        f"MIG: {args.codes:,} codes x {args.dims} dims x {len(shapes.FACTORS)} factors in {seconds:.2f} s "
        f"(score {result.score:.3f})"
    )
    n = args.dci_codes
    seconds, result = timed(lambda: dci(codes[:n], factors[:n], seed=args.seed))
    print(
        f"DCI: {n:,} codes x {args.dims} dims x {len(shapes.FACTORS)} factors in {seconds:.2f} s "
        f"(disentanglement {result.disentanglement:.3f}, completeness {result.completeness:.3f}, "
        f"informativeness {result.informativeness:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
