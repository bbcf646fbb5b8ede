"""How fast a folder of images is read, and refused when it passes the served limits.

Writes a folder of MNIST-like PNGs (real test digits) into a temporary folder, then times
reading --read of them with settings.SERVED_LIMITS, and refusing all --files of them when
that is more than the limit allows: the refusal comes from indexing alone, so it costs a
walk of the folder, not a read of it. Reports the process's peak resident memory too.

    AELAB_DATA_DIR=../shared/datasets python bench/load_limits.py
    python bench/load_limits.py --files 30000 --read 5000
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aelab.data.dataset import DatasetUnavailable
from aelab.data.folders import load_folder  # noqa: E402
from aelab.data.registry import load_dataset
from aelab.images.render import to_png  # noqa: E402
from aelab.settings import SERVED_LIMITS  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=SERVED_LIMITS.files + 5_000)
    parser.add_argument("--read", type=int, default=5_000)
    args = parser.parse_args(argv)
    digits = load_dataset("digits", "train").images[:, 0].numpy()
    pngs = [to_png(image) for image in digits]
    root = Path(tempfile.mkdtemp(prefix="aelab-bench-"))
    try:
        small, big = root / "small", root / "big"
        for folder, n in ((small, args.read), (big, args.files)):
            for i in range(n):
                path = folder / str(i % 10) / f"{i:06d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(pngs[i % len(pngs)])
        print(f"peak memory before loading: {peak_mb():.0f} MB")
        start = time.perf_counter()
        train, test = load_folder(small, limits=SERVED_LIMITS)
        took = time.perf_counter() - start
        print(
            f"read {len(train) + len(test):,} images in {took:.2f} s ({(len(train) + len(test)) / took:,.0f} "
            f"images/s); peak memory {peak_mb():.0f} MB"
        )
        start = time.perf_counter()
        try:
            load_folder(big, limits=SERVED_LIMITS)
            print(f"{args.files:,} images loaded: not over the limit of {SERVED_LIMITS.files:,}")
        except DatasetUnavailable as err:
            print(f"refused {args.files:,} images in {time.perf_counter() - start:.2f} s: {err}")
        print(f"peak memory after: {peak_mb():.0f} MB")
    finally:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
