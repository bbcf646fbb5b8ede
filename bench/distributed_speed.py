"""Training throughput in one and two processes on this CPU (one thread each), and on CUDA when present.

Each run is `torchrun --standalone --nproc_per_node N -m aelab train` on the MNIST training split of
the data folder for --seconds at the same global batch (bench/train_speed.py's), one torch thread per
process; images per second are read from the checkpoint's history (validation by rank 0 included,
as in every run), with the load average around it (other users' processes slow every figure). With CUDA,
one process on one GPU and, when there are several, one per GPU (NCCL).

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
from aelab.checkpoints import read_metadata  # noqa: E402

MODELS = {"vae": 256, "conv_vae": 96}  # global batch: bench/train_speed.py's, divisible by the processes


def run(model: str, processes: int, device: str, seconds: float) -> tuple[float, float, float, float]:
    """Images per second, epochs, wall seconds and the mean load average of one torchrun run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.safetensors"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   "-m", "aelab", "train", "--model", model, "--batch-size", str(MODELS[model]), "--epochs", "10000",
                   "--patience", "0", "--max-seconds", str(seconds), "--device", device, "--out", str(out)]
        started, load = time.perf_counter(), os.getloadavg()[0]
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        wall, load = time.perf_counter() - started, (load + os.getloadavg()[0]) / 2
        history = read_metadata(out)["history"]
    seen = sum(h["images_per_second"] * h["seconds"] for h in history)
    return seen / sum(h["seconds"] for h in history), sum(h["fraction"] for h in history), wall, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="training time of each run")
    args = parser.parse_args()
    setups = [("cpu", 1), ("cpu", 2)]
    if torch.cuda.is_available():
        setups += [("cuda", n) for n in sorted({1, torch.cuda.device_count()})]
        print("CUDA:", ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}; "
          f"{args.seconds:g} s of training per run")
    print(f"{'model':9} {'device':6} {'processes':>9} {'global batch':>12} {'img/s':>8} {'epochs':>7} {'wall s':>7} "
          f"{'load avg':>8}")
    for model in MODELS:
        for device, processes in setups:
            speed, epochs, wall, load = run(model, processes, device, args.seconds)
            print(f"{model:9} {device:6} {processes:9} {MODELS[model]:12} {speed:8.0f} {epochs:7.1f} {wall:7.0f} "
                  f"{load:8.1f}", flush=True)


if __name__ == "__main__":
    main()
