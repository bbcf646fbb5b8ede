"""Training from a folder streamed from disk against the same folder read into memory.

Writes --files small PNGs (default 100,000) made from the MNIST digits in the data folder (the
training and test splits, each used several times, moved by up to 2 whole pixels so that no two
files are alike) into a temporary folder, class subfolders by label. Then, each in a fresh
process so that its peak memory is its own, trains each of --models (one torch thread, batch 256 for
the MLP VAE, 96 for the ConvVAE) for --seconds:

- memory:   the folder read whole into a tensor first (aelab's in-memory path);
- streamed: the files read, decoded and preprocessed per batch by --workers DataLoader processes;
- cached:   streamed with --keep-decoded: one pass decodes every file into the disk cache,
            then training reads the decoded images back.

and a streamed run on a tenth of the files, to show that the memory does not grow with the folder.
Reports images per second over the training epochs (validation included, as in every run), the
CPU time each image cost (training process and workers together: what a busy machine cannot
hide), the load average while training (other users' processes slow every figure but that one),
and the run's peak memory: the largest sum, sampled every 0.2 s, of the anonymous memory of the
training process and its DataLoader workers (proportional set size: pages they share counted
once; file pages such as torch's libraries and the page cache left out, the system can drop them),
and the training process's own peak resident set (VmHWM: everything it mapped, libraries included).

    AELAB_DATA_DIR=../shared/datasets .venv/bin/python bench/streaming.py [--files 100000] [--seconds 40]
        [--models vae conv_vae] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aelab.data.dataset import random_shift  # noqa: E402
from aelab.data.folders import load_folder
from aelab.data.registry import load_dataset
from aelab.images.render import to_png  # noqa: E402

MODES = {"memory": dict(stream=False), "streamed": dict(stream=True), "cached": dict(stream=True, keep_decoded=True)}
BATCH = {"vae": 256, "conv_vae": 96, "conv_ae": 128}  # bench/train_speed.py's


def write_folder(folder: Path, n_files: int) -> None:
    import torch

    train, test = (load_dataset("mnist", split, download=False) for split in ("train", "test"))
    images, labels = torch.cat([train.images, test.images]), torch.cat([train.labels, test.labels])
    gen = torch.Generator().manual_seed(0)
    for start in range(0, n_files, len(images)):
        count = min(len(images), n_files - start)
        moved = images[:count] if start == 0 else random_shift(images[:count], 2, gen)
        for i in range(count):
            path = folder / str(int(labels[i])) / f"{start + i:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(to_png(moved[i, 0].numpy()))


class RunMemory(threading.Thread):
    """Samples the anonymous memory of this process and its descendants (the DataLoader workers) every 0.2 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb, self.running = 0.0, True

    def run(self) -> None:
        while self.running:
            self.peak_mb = max(self.peak_mb, sum(map(_anonymous_mb, _tree(os.getpid()))))
            time.sleep(0.2)


def _tree(pid: int) -> list[int]:
    try:
        children = [
            int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()
        ]
    except OSError:
        return [pid]
    return [pid] + [p for child in children for p in _tree(child)]


def _anonymous_mb(pid: int) -> float:
    """Proportional anonymous and shared memory (tensors pass between processes in shared memory)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:  # ended meanwhile
        return 0.0
    counted = ("Pss_Anon:", "Pss_Shmem:")
    return sum(int(line.split()[1]) for line in text.splitlines() if line.startswith(counted)) / 1024


def _hwm_mb() -> float:
    """This process's peak resident set since it started (ru_maxrss would count the parent's before exec)."""
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (DataLoader workers end with each pass)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def train_child(model: str, mode: str, folder: Path, seconds: float, workers: int) -> dict:
    """One run in this process: load, (fill the cache), train; the figures as a dict."""
    import torch

    from aelab.data.streaming import batches, in_order
    from aelab.models.config import ModelConfig
    from aelab.training.config import TrainConfig
    from aelab.training.trainer import train

    torch.set_num_threads(1)
    memory = RunMemory()
    memory.start()
    started = time.perf_counter()
    data = load_folder(folder, limits=_limits(), workers=workers, **MODES[mode]).train
    loaded = time.perf_counter() - started
    filled = None
    if mode == "cached":
        started = time.perf_counter()
        for _ in batches(data.images, in_order(len(data), 512)):
            pass
        filled = time.perf_counter() - started
    cfg = TrainConfig(
        model=ModelConfig.for_model(model), epochs=1000, batch_size=BATCH[model], patience=0, max_seconds=seconds
    )
    cpu, load = _cpu_seconds(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        result = train(cfg, data, Path(tmp) / "m.safetensors")
    cpu, load = _cpu_seconds() - cpu, (load + os.getloadavg()[0]) / 2
    memory.running = False
    memory.join()
    seen = sum(log.images_per_second * log.seconds for log in result.history)
    return {
        "model": model,
        "mode": mode,
        "images": len(data),
        "load_s": loaded,
        "fill_s": filled,
        "img_s": seen / sum(log.seconds for log in result.history),
        "cpu_ms": 1000 * cpu / seen,
        "load": load,
        "epochs": sum(log.fraction for log in result.history),
        "hwm_mb": _hwm_mb(),
        "anon_mb": memory.peak_mb,
    }


def _limits():
    from aelab.settings import STREAM_LIMITS

    return STREAM_LIMITS  # the command line's, for every mode: the comparison is of reading, not of limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=40.0, help="training time of each run")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader processes of a streamed run")
    parser.add_argument("--models", nargs="+", choices=list(BATCH), default=["vae", "conv_vae"])
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, mode, folder = args.child
        print(json.dumps(train_child(model, mode, Path(folder), args.seconds, args.workers)))
        return
    root = Path(tempfile.mkdtemp(prefix="aelab-stream-bench-"))
    env = {**os.environ, "AELAB_CACHE_DIR": str(root / "cache"), "OMP_NUM_THREADS": "1"}
    try:
        started = time.perf_counter()
        folder, tenth = root / "digits", root / "tenth"
        write_folder(folder, args.files)
        for path in sorted(folder.rglob("*.png"))[::10]:  # a tenth of the same files, linked
            (tenth / path.parent.name).mkdir(parents=True, exist_ok=True)
            os.link(path, tenth / path.parent.name / path.name)
        size = sum(p.stat().st_size for p in folder.rglob("*.png"))
        print(
            f"{args.files:,} PNGs ({size / 2**20:.0f} MB) written in {time.perf_counter() - started:.0f} s; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; one torch thread, "
            f"{args.seconds:g} s of training per run, {args.workers} DataLoader worker(s) when streamed"
        )
        print(
            f"{'model':8} {'run':18} {'train images':>12} {'load s':>7} {'fill s':>7} {'img/s':>7} "
            f"{'CPU ms/img':>10} {'load avg':>8} {'epochs':>6} {'peak anon MB':>12} {'trainer VmHWM MB':>16}"
        )
        rows = {}
        runs = [(model, mode, folder) for model in args.models for mode in MODES]
        for model, mode, where in [*runs, (args.models[0], "streamed", tenth)]:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    model,
                    mode,
                    str(where),
                    "--seconds",
                    str(args.seconds),
                    "--workers",
                    str(args.workers),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            row = rows[model, mode, where] = json.loads(out.stdout.strip().splitlines()[-1])
            fill = f"{row['fill_s']:7.0f}" if row["fill_s"] is not None else f"{'-':>7}"
            print(
                f"{model:8} {mode + (' (a tenth)' if where == tenth else ''):18} {row['images']:12,} "
                f"{row['load_s']:7.1f} {fill} {row['img_s']:7.0f} {row['cpu_ms']:10.3f} {row['load']:8.1f} "
                f"{row['epochs']:6.2f} {row['anon_mb']:12.0f} {row['hwm_mb']:16.0f}",
                flush=True,
            )
        for model in args.models:
            for mode in ("streamed", "cached"):
                ratio = rows[model, "memory", folder]["img_s"] / rows[model, mode, folder]["img_s"]
                cost = rows[model, mode, folder]["cpu_ms"] / rows[model, "memory", folder]["cpu_ms"]
                print(
                    f"{model} {mode}: {ratio:.2f}x the in-memory run's time per image (goal: within 1.5x), "
                    f"{cost:.2f}x its CPU time per image"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
