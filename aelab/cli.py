"""`python -m aelab train|evaluate|import|data`: the command line over the same code the app uses.

`torchrun --nproc_per_node N -m aelab train ...` trains one model in N processes (aelab.training.distributed):
rank 0 alone prints, shows progress and writes files.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict

import torch

from aelab.data.dataset import DatasetUnavailable, ImageData
from aelab.data.folders import IN_MEMORY_BYTES, INDEXING
from aelab.data.registry import DOWNLOADABLE, data_dir, dataset_shape, ensure_downloaded, load_dataset
from aelab.data.streaming import ImageFiles
from aelab.explore import likelihood
from aelab.explore.metrics import evaluate, record_test_metrics, test_metrics
from aelab.models.config import (
    DIFFUSERS_PREFIX,
    DIGIT_SHAPE,
    INPUTS,
    OUTPUTS,
    POSTERIORS,
    ModelConfig,
    OwnModelConfig,
    canonical_entry,
    conventions_text,
    describe,
    shape_text,
)
from aelab.models.diffusers_kl import fetched, source_of, weights_file
from aelab.models.importing import IMAGES, Choices, import_model
from aelab.settings import DEFAULT_WORKERS, variable
from aelab.store.checkpoints import (
    IWAE,
    SUFFIX,
    CheckpointError,
    file_digest,
    load_checkpoint,
    save_checkpoint,
    update_metadata,
)
from aelab.training import distributed
from aelab.training.config import EpochLog, Status, TrainConfig
from aelab.training.flags import PROG, add_shape_arguments, add_train_arguments, train_config
from aelab.training.runs import runs_dir
from aelab.training.trainer import pick_device, train

LOADS = {"auto": None, "memory": False, "stream": True}  # --load: load_dataset's `stream`


def _data_dir_help() -> str:
    return f"where datasets live (default: {data_dir()}, see docs/data.md)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and save a checkpoint")
    add_train_arguments(t)  # those a recorded command holds; the rest steer the run
    t.add_argument("--data-dir", help=_data_dir_help())
    t.add_argument(
        "--load",
        choices=list(LOADS),
        default="auto",
        help="a folder or zip: read into memory, or streamed from disk per batch (auto: streamed when "
        f"its decoded images would take more than {IN_MEMORY_BYTES // 2**20} MB)",
    )
    t.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="processes reading a streamed folder or zip")
    t.add_argument(
        "--keep-decoded",
        action="store_true",
        help="keep a streamed folder's decoded images in the disk cache for later epochs and runs",
    )
    t.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    t.add_argument("--resume", action="store_true", help="continue the run saved beside --out")

    e = sub.add_parser("evaluate", help="test metrics of a checkpoint")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--dataset", default=TrainConfig.dataset)
    e.add_argument("--load", choices=list(LOADS), default="auto", help="a folder or zip: as for train")
    add_shape_arguments(e)
    e.add_argument("--data-dir", help=_data_dir_help())
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.add_argument(
        "--iwae",
        type=int,
        nargs="?",
        const=likelihood.DEFAULT_K,
        metavar="K",
        help="VAEs: also estimate -log p(x) by importance sampling with K samples per image (IWAE bound; "
        f"K {likelihood.DEFAULT_K} when not given) and store it in the checkpoint",
    )
    e.add_argument(
        "--iwae-images",
        type=int,
        default=likelihood.DEFAULT_IMAGES,
        metavar="N",
        help="test images the IWAE estimate is taken over, a seeded random subset (default %(default)s)",
    )

    i = sub.add_parser("import", help="make an aelab checkpoint of a model of your own code (docs/own-model.md)")
    i.add_argument(
        "entry",
        help="module:function or path/to/file.py:function, returning your torch.nn.Module when "
        "called without arguments",
    )
    i.add_argument(
        "weights",
        type=Path,
        nargs="?",
        help="its state_dict as a safetensors file (safetensors.torch.save_file); for diffusers:FOLDER, the folder's",
    )
    i.add_argument(
        "--dataset",
        default=TrainConfig.dataset,
        help="the data it takes: its image shape, and the test split its metrics are measured on (default %(default)s)",
    )
    add_shape_arguments(i)
    i.add_argument("--flat", action="store_true", default=None, help="its encode takes flattened (B, C*H*W) vectors")
    i.add_argument(
        "--output",
        choices=OUTPUTS,
        help="what its decode gives (default: found from the test images; docs/own-model.md)",
    )
    i.add_argument("--input", choices=INPUTS, dest="inputs", help="the pixels its encode takes (default: found)")
    i.add_argument("--mean", type=float, nargs="+", default=[], help="standardised pixels: the mean per channel")
    i.add_argument("--std", type=float, nargs="+", default=[], help="standardised pixels: the std per channel")
    i.add_argument("--posterior", choices=POSTERIORS, help="a VAE's second encoder output (default: found)")
    i.add_argument("--out", type=Path, help=f"the checkpoint to write (default: {runs_dir()}/<weights' name>)")
    i.add_argument("--data-dir", help=_data_dir_help())

    d = sub.add_parser("data", help="make sure datasets are on disk, downloading them when online")
    d.add_argument(
        "names", nargs="*", default=["mnist"], metavar="NAME", help=f"{', '.join(DOWNLOADABLE)} (default: mnist)"
    )
    d.add_argument("--data-dir", help=_data_dir_help())
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # its help names the data folder: a bad setting is one line too
        if args.command == "train":
            return run_train(args, argv)
        if args.command == "import":
            return run_import(args, argv)
        return run_evaluate(args) if args.command == "evaluate" else run_data(args)
    except (DatasetUnavailable, CheckpointError, ValueError, likelihood.LikelihoodStopped) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except distributed.RunAborted as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except distributed.Terminated:  # torchrun ended this process outside training (loading data, testing)
        print("error: torchrun stopped this process, as it does when another one fails.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


@contextmanager
def ctrl_c_stops_training(second_quits: bool = True) -> Iterator[Callable[[], bool]]:
    """The first Ctrl-C asks training to stop at the end of the current batch; a second quits at once.

    Turning the signal into a flag means it can never land between a save and its bookkeeping:
    the run always ends through the same path as a finished one, best model and metadata written.
    Under torchrun (`second_quits` False) the launcher owns quitting at once: a process quitting
    alone would leave the others waiting for it.
    """
    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield asked.is_set
        return

    owner = os.getpid()

    def handler(signum, frame) -> None:
        if os.getpid() != owner:  # a DataLoader worker forked during training: the trainer decides
            return
        if asked.is_set() and second_quits:
            raise KeyboardInterrupt
        asked.set()
        print("\nStopping after this batch (Ctrl-C again to quit at once)…", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield asked.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def run_train(args: argparse.Namespace, argv: list[str] | None) -> int:

    if args.threads:
        torch.set_num_threads(args.threads)
    train_config(args)  # every flag checked before any data is read
    if args.out.suffix != ".safetensors":
        raise ValueError("--out must end in .safetensors")
    with distributed.session(pick_device(args.device)) as dist:
        if args.dataset in DOWNLOADABLE:  # rank 0 downloads what is missing, the others wait
            if dist.is_main:
                ensure_downloaded([args.dataset], args.data_dir)
            dist.barrier()
        data = _load_training_data(args, dist.is_main)
        return _train_and_test(args, argv, train_config(args, data.shape), data, dist)


def _load_training_data(args: argparse.Namespace, shown: bool) -> ImageData:
    """The training split, with a progress bar while a folder or zip is indexed and read."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if phase not in bars:
            bars[phase] = tqdm(desc=phase, unit="file", dynamic_ncols=True, disable=None if shown else True)
        bar = bars[phase]
        bar.total = None if phase == INDEXING else total  # indexing: how many seen so far, no end known
        bar.n = done
        bar.refresh()

    try:
        return load_dataset(
            args.dataset,
            "train",
            args.data_dir,
            stream=LOADS[args.load],
            workers=args.workers,
            keep_decoded=args.keep_decoded,
            progress=progress,
            **_shape_options(args),
        )
    finally:
        for bar in bars.values():
            bar.close()


def _train_and_test(
    args: argparse.Namespace, argv: list[str] | None, cfg: TrainConfig, data: ImageData, dist: distributed.Dist
) -> int:
    from tqdm import tqdm

    files = data.images if isinstance(data.images, ImageFiles) else None  # streamed: unreadable ones are skipped
    if dist.is_main:
        print(
            f"{len(data)} training images from {data.name}{' (streamed)' if files is not None else ''}"
            f"{f' in {dist.world_size} processes' if dist.world_size > 1 else ''}; {cfg.model.to_json()}"
        )
        if data.note:
            print(data.note)
    bar = tqdm(total=0, unit="batch", dynamic_ncols=True, disable=None if dist.is_main else True)  # none when piped

    def on_batch(epoch: int, batch: int, n_batches: int, loss: float) -> None:
        if batch == 1:
            bar.reset(total=n_batches)
            bar.set_description(f"epoch {epoch}/{cfg.epochs}")
        bar.update()
        bar.set_postfix(loss=f"{loss:.2f}")

    def on_epoch(log: EpochLog, model) -> None:
        terms = " ".join(f"{k} {v:.2f}" for k, v in log.val.items())
        skipped = f" | {files.skipped} unreadable files skipped" if files is not None and files.skipped else ""
        bar.write(
            f"epoch {log.epoch}: train loss {log.train['loss']:.2f} | val {terms} | "
            f"{log.images_per_second:.0f} img/s{skipped}"
        )

    with ctrl_c_stops_training(second_quits=dist.world_size == 1) as should_stop:
        result = train(cfg, data, args.out, on_batch, on_epoch, should_stop, resume=args.resume, dist=dist)
    bar.close()
    if not dist.is_main:
        return 1 if result.status is Status.DIVERGED else 0
    print(result.message)
    if result.path is None:
        return 1
    command = f"{PROG} " + shlex.join(sys.argv[1:] if argv is None else argv)
    update_metadata(result.path, {"command": command} | ({"skipped_files": files.skipped} if files is not None else {}))
    try:
        test = load_dataset(
            args.dataset,
            "test",
            args.data_dir,
            stream=LOADS[args.load],
            workers=args.workers,
            keep_decoded=args.keep_decoded,
            **_shape_options(args),
        )
        print("test:", _summary(record_test_metrics(result.path, test)))
    except DatasetUnavailable as err:
        print(f"no test metrics: {err}", file=sys.stderr)
    return 1 if result.status is Status.DIVERGED else 0


class _Shape(TypedDict):
    """The shape asked of a folder's or zip's pictures (flags.SHAPE_FLAGS), as load_dataset's keywords."""

    side: int | None  # None: load_dataset's default
    channels: int | None


def _shape_options(source: argparse.Namespace | ModelConfig | OwnModelConfig) -> _Shape:
    """--side and --channels as given, or the shape a model's config takes."""
    return _Shape(side=source.side, channels=source.channels)


def _summary(metrics: dict) -> str:
    keys = ["recon", "nelbo", "kl", "denoise_recon", "active_units", "images"]
    return ", ".join(
        f"{k} {metrics[k]:.2f}" if isinstance(metrics[k], float) else f"{k} {metrics[k]}" for k in keys if k in metrics
    )


def run_evaluate(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    if args.iwae is not None:
        likelihood.check_estimable(ckpt.model, args.iwae)
    options = _shape_options(args)
    if (
        dataset_shape(args.dataset) is None
        and options == _Shape(side=None, channels=None)
        and ckpt.model.image_shape != DIGIT_SHAPE
    ):  # a folder made as the colour model takes it
        options = _shape_options(ckpt.model.config)
    test = load_dataset(args.dataset, "test", args.data_dir, stream=LOADS[args.load], **options)
    if test.shape != ckpt.model.image_shape:
        raise ValueError(
            f"{args.checkpoint.name} takes {shape_text(ckpt.model.image_shape)} images; "
            f"{test.name} is {shape_text(test.shape)}"
        )
    metrics = evaluate(ckpt.model, test.images, factors=test.factors, factor_names=test.factor_names)
    if args.iwae is not None:
        metrics[IWAE] = _log_likelihood(args, test)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{args.checkpoint.name} on {test.name} test ({len(test)} images)")
    print(_summary(metrics))
    if "kl_per_dim" in metrics:
        print("KL per dim:", " ".join(f"{v:.2f}" for v in metrics["kl_per_dim"]))
    print("latent variance per dim:", " ".join(f"{v:.3f}" for v in metrics["latent_variance"]))
    if "mig" in metrics:
        print(
            f"MIG {metrics['mig']:.3f} ("
            + ", ".join(f"{k} {v:.3f}" for k, v in metrics["mig_per_factor"].items())
            + "); each dimension follows: "
            + " ".join(f"{d}:{name}({share:.2f})" for d, (name, share) in enumerate(metrics["dimension_factors"]))
        )
    if IWAE in metrics:
        iwae = metrics[IWAE]
        print(
            f"-log p(x) {iwae['nll']:.2f} ± {iwae['stderr']:.2f} nats (IWAE bound, k={iwae['k']}, "
            f"{iwae['images']} images{', stopped early: not stored' if iwae['stopped'] else ''})"
        )
    return 0


def run_import(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Check the operator's network against its weights and data, write it as an aelab checkpoint, measure it."""
    source = source_of(canonical_entry(args.entry))
    if source is not None:  # a model id is fetched once, here, so the app finds it on disk
        source = fetched(source)
        args.entry = f"{DIFFUSERS_PREFIX}{source}"
    if args.weights is None:
        if source is None:
            raise ValueError("import needs the weights file: python -m aelab import ENTRY WEIGHTS")
        args.weights = weights_file(source)
    out = args.out or runs_dir() / f"{args.weights.stem}{SUFFIX}"
    if out.suffix != SUFFIX:
        raise ValueError(f"--out must end in {SUFFIX}")
    if out.resolve() == args.weights.resolve():
        raise ValueError(f"--out would replace the weights file {args.weights}: name another file")
    test = load_dataset(args.dataset, "test", args.data_dir, **_shape_options(args))
    choices = Choices(args.flat, args.output, args.inputs, tuple(args.mean), tuple(args.std), args.posterior)
    count = min(IMAGES, len(test))
    images = test.images.__getitems__(list(range(count)))[0] if isinstance(test.images, ImageFiles) else test.images
    imported = import_model(args.entry, args.weights, images[:count], choices)
    model = imported.model
    metrics = test_metrics(model, test)  # before anything is written: a network failing on real data leaves no file
    out.parent.mkdir(parents=True, exist_ok=True)
    command = f"{PROG} " + shlex.join(sys.argv[1:] if argv is None else argv)
    save_checkpoint(
        out,
        model,
        {
            "dataset": test.name,
            "classes": test.classes,
            "command": command,
            **({"data_note": test.note} if test.note else {}),
            "metrics": metrics,
            "imported": {"weights": args.weights.name, "sha256": file_digest(args.weights), "check": imported.check},
        },
    )
    print(f"{out}: {describe(model.config)}; {conventions_text(model.config)}")
    for note in ([test.note] if test.note else []) + imported.notes:
        print(note)
    print("test:", _summary(metrics))
    print(
        f"Open it in the app with its code allowed: {variable('entry_points')}={shlex.quote(model.config.entry)} "
        "streamlit run app.py"
    )
    return 0


def _log_likelihood(args: argparse.Namespace, test: ImageData) -> dict:
    """The IWAE estimate of `evaluate --iwae`, with a progress bar; Ctrl-C stops it and keeps what was done."""
    from tqdm import tqdm

    bar = tqdm(total=0, desc=f"IWAE k={args.iwae}", unit="decode", unit_scale=True, dynamic_ncols=True, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    with ctrl_c_stops_training() as should_stop:
        result = likelihood.record_log_likelihood(
            args.checkpoint, test, args.iwae, args.iwae_images, progress=progress, should_stop=should_stop
        )
    bar.close()
    return result.to_metrics() | {"stopped": result.stopped}


def run_data(args: argparse.Namespace) -> int:
    root = ensure_downloaded(args.names, args.data_dir)
    print(f"{', '.join(args.names)}: train and test splits in {root}")
    return 0
