"""Training throughput in one and two processes on this CPU (one thread each), and on CUDA when present.

Each run is `torchrun --standalone --nproc_per_node N -m aelab train` on the MNIST training split of
the data folder for --seconds at the same global batch (bench/train_speed.py's), one torch thread per
process; images per second are read from the checkpoint's history (validation by rank 0 included,
as in every run), with the load average around it (other users' processes slow every figure). On the
CPU, as many independent one-process runs side by side on their shares of the batch show what the machine
gives that many processes when no gradients are exchanged. With CUDA, one process on one GPU and, when
there are several, one per GPU (NCCL).

    AELAB_DATA_DIR=../shared/datasets .venv/bin/python bench/distributed_speed.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from aelab.store.checkpoints import read_metadata  # noqa: E402

MODELS = {"vae": 256, "conv_vae": 96}  # global batch: bench/train_speed.py's, divisible by the processes


def run(model: str, processes: int, device: str, seconds: float, apart: bool = False) -> tuple[float, float, float]:
    """Images per second, wall seconds and the mean load average of one torchrun run of `processes`; or, `apart`,
    of as many independent one-process runs side by side, each on its share of the batch (their sum): what the
    machine gives that many processes, with no gradients exchanged."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"m{i}.safetensors" for i in range(processes if apart else 1)]
        batch = MODELS[model] // processes if apart else MODELS[model]
        launch = ["--nproc_per_node", "1" if apart else str(processes)]
        commands = [
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                *launch,
                "-m",
                "aelab",
                "train",
                "--model",
                model,
                "--batch-size",
                str(batch),
                "--epochs",
                "10000",
                "--patience",
                "0",
                "--max-seconds",
                str(seconds),
                "--device",
                device,
                "--out",
                str(out),
            ]
            for out in outs
        ]
        started, load = time.perf_counter(), os.getloadavg()[0]
        running = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for command in commands
        ]
        for proc in running:
            if proc.wait() != 0:
                raise RuntimeError(proc.stderr.read())
        wall, load = time.perf_counter() - started, (load + os.getloadavg()[0]) / 2
        histories = [read_metadata(out)["history"] for out in outs]
    speed = sum(
        sum(h["images_per_second"] * h["seconds"] for h in history) / sum(h["seconds"] for h in history)
        for history in histories
    )
    return speed, wall, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="training time of each run")
    args = parser.parse_args()
    setups = [("cpu", 1), ("cpu", 2)]
    if torch.cuda.is_available():
        setups += [("cuda", n) for n in sorted({1, torch.cuda.device_count()})]
        print("CUDA:", ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}; "
        f"{args.seconds:g} s of training per run"
    )
    print(f"{'model':9} {'device':6} {'processes':>26} {'global batch':>12} {'img/s':>8} {'wall s':>7} {'load avg':>8}")
    for model in MODELS:
        for device, processes in setups:
            for apart in [False, True] if device == "cpu" and processes > 1 else [False]:
                speed, wall, load = run(model, processes, device, args.seconds, apart)
                label = f"{processes} apart (no exchange)" if apart else f"{processes}"
                print(
                    f"{model:9} {device:6} {label:>26} {MODELS[model]:12} {speed:8.0f} {wall:7.0f} {load:8.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
