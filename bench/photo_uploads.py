"""Does a photo of a digit reach the model as that digit? Photos against clean renders, and MNIST kept intact.

For each checkpoint, the MNIST test set is encoded (all but the first --mnist images, which are
kept as queries); a picture counts as read when the most common digit among its 10 nearest
test codes is its own (aelab.data.photos.vote_accuracy; a tie goes to the lower digit). Scored:
- the photo-like pictures of aelab.data.photos.photo_set through the upload pipeline, against
  their clean twins (the same glyphs, black on white) through the same pipeline; goal: the
  photos score at least 0.9x the clean renders;
- real MNIST test digits as uploads: the 28x28 files as stored (white on black) and as a
  person would draw them (black on white, 4x); goal: as well as the digits themselves.
--compare-with REV scores the digit recipe as it was at git revision REV too, for a before/after.

    AELAB_DATA_DIR=../shared/datasets python bench/photo_uploads.py --compare-with 5c443e1
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from aelab.data import photos  # noqa: E402
from aelab.data.registry import load_dataset  # noqa: E402
from aelab.explore.encoding import encode_all  # noqa: E402
from aelab.images import recipe, render  # noqa: E402
from aelab.settings import SHIPPED_DIR  # noqa: E402
from aelab.store.checkpoints import load_checkpoint  # noqa: E402

GOAL = 0.9


def images_at(revision: str) -> ModuleType:
    """The digit recipe as it was at a git revision (aelab/images/recipe.py, before the re-housing
    aelab/images.py), imported under a name of its own."""
    shown = [
        subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True)
        for path in ("aelab/images/recipe.py", "aelab/images.py")
    ]
    source = next(run.stdout for run in shown if run.returncode == 0)
    path = Path(tempfile.mkdtemp(prefix="aelab-images-")) / "images_then.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location(f"images_at_{revision}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def prepared(pipeline: ModuleType, files: list[bytes]) -> tuple[np.ndarray, int, float]:
    """Model inputs (blank where refused), how many were refused, and the slowest file's seconds."""
    out, refused, slowest = [], 0, 0.0
    for data in files:
        start = time.perf_counter()
        try:
            out.append(pipeline.preprocess_bytes(data, "upload").image)
        except pipeline.ImageError:
            out.append(np.zeros((28, 28), np.float32))
            refused += 1
        slowest = max(slowest, time.perf_counter() - start)
    return np.stack(out), refused, slowest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoints",
        nargs="+",
        default=["vae", "conv_vae"],
        help="names in checkpoints/ (without .safetensors) or paths",
    )
    parser.add_argument("--compare-with", metavar="REV", help="also score the digit recipe at this git revision")
    parser.add_argument("--mnist", type=int, default=1000, help="MNIST test digits uploaded as files")
    parser.add_argument("--seed", type=int, default=0, help="of the photo set")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    test = load_dataset("mnist", "test", download=False)
    reference, queries = test.subset(range(args.mnist, len(test))), test.subset(range(args.mnist))
    digits = np.round(queries.images[:, 0].numpy() * 255).astype(np.uint8)
    drawn = [png(np.asarray(Image.fromarray(255 - d).resize((112, 112), Image.Resampling.BILINEAR))) for d in digits]
    photo_set = photos.photo_set(args.seed)
    labels = np.array([p.digit for p in photo_set])
    conditions = np.array([p.condition for p in photo_set])
    print(
        f"{len(photo_set)} photos ({len(photos.CONDITIONS)} conditions x {len(set(labels))} digits, "
        f"{len({p.font for p in photo_set})} fonts); {args.mnist} MNIST test digits as uploads; "
        f"reference: the other {len(reference)} test codes, {photos.NEIGHBOURS} nearest vote"
    )

    pipelines = {"now": recipe}
    if args.compare_with:
        pipelines[args.compare_with] = images_at(args.compare_with)
    inputs = {}
    for name, pipeline in pipelines.items():
        started = time.perf_counter()
        photo_in, photo_refused, photo_slowest = prepared(pipeline, [p.data for p in photo_set])
        clean_in, clean_refused, _ = prepared(pipeline, [p.clean for p in photo_set])
        stored_in, _, _ = prepared(pipeline, [png(d) for d in digits])
        drawn_in, _, _ = prepared(pipeline, drawn)
        inputs[name] = (photo_in, clean_in, stored_in, drawn_in)
        stored_gap = np.abs(stored_in - queries.images[:, 0].numpy()).mean(axis=(1, 2))
        print(
            f"\npipeline {name}: {time.perf_counter() - started:.1f} s for {2 * len(photo_set) + 2 * args.mnist} "
            f"files, slowest photo {photo_slowest:.2f} s; refused: {photo_refused} photos, {clean_refused} clean; "
            f"MNIST as stored comes back within mean |difference| {stored_gap.mean():.4f} "
            f"(worst {stored_gap.max():.3f})"
        )

    for checkpoint in args.checkpoints:
        path = Path(checkpoint) if checkpoint.endswith(".safetensors") else SHIPPED_DIR / f"{checkpoint}.safetensors"
        model = load_checkpoint(path).model
        codes = encode_all(model, reference.images).mu
        ref_labels = reference.labels.numpy()

        def accuracy(pictures: np.ndarray, truth: np.ndarray) -> float:
            return photos.vote_accuracy(codes, ref_labels, encode_all(model, render.to_tensor(pictures)).mu, truth)

        mnist_labels = queries.labels.numpy()
        raw = photos.vote_accuracy(codes, ref_labels, encode_all(model, queries.images).mu, mnist_labels)
        print(f"\n{path.name}: MNIST test digits themselves {raw:.3f}")
        print(
            f"{'pipeline':>10} {'photos':>7} {'clean':>7} {'ratio':>6} {'MNIST stored':>13} {'MNIST drawn':>12}   "
            + "  ".join(f"{c:>10.10}" for c in photos.CONDITIONS)
            + "  (photos/clean)"
        )
        for name, (photo_in, clean_in, stored_in, drawn_in) in inputs.items():
            photo_acc, clean_acc = accuracy(photo_in, labels), accuracy(clean_in, labels)
            ratio = photo_acc / clean_acc if clean_acc else float("nan")
            per_condition = [
                f"{accuracy(photo_in[conditions == c], labels[conditions == c]):.1f}/"
                f"{accuracy(clean_in[conditions == c], labels[conditions == c]):.1f}"
                for c in photos.CONDITIONS
            ]
            stored_acc, drawn_acc = accuracy(stored_in, mnist_labels), accuracy(drawn_in, mnist_labels)
            print(
                f"{name:>10} {photo_acc:7.3f} {clean_acc:7.3f} {ratio:6.2f} {stored_acc:13.3f} {drawn_acc:12.3f}   "
                + "  ".join(f"{a:>10}" for a in per_condition)
            )
        print(f"goal: photos >= {GOAL}x clean")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
