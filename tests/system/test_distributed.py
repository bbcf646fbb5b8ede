"""One model trained by two processes under torchrun (gloo on the CPU, one thread each), on MNIST digits
saved as PNGs: the single-process run's loss curve, a process killed mid-run, resume, Ctrl-C, divergence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from folders import write_digits

from aelab.data.folders import load_folder
from aelab.models.config import ModelConfig
from aelab.store.checkpoints import CheckpointError, load_checkpoint, read_metadata
from aelab.training.config import TrainConfig
from aelab.training.distributed import Dist
from aelab.training.trainer import resume_path, train

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = [
    sys.executable,
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nproc_per_node",
    "2",
    "-m",
    "aelab",
    "train",
]
# A deterministic model (an autoencoder draws no noise), so that the two runs differ only in the
# order gradients are summed and in the one image DDP's sampler repeats to split an odd last batch.
CONV_AE = ModelConfig.for_model("conv_ae", widths=(8, 16, 32), latent_dim=16)
MATCH = dict(epochs=3, batch_size=64, lr=1e-2, patience=0, seed=1)
TOLERANCE = 5e-3  # relative, on each epoch's mean training and validation loss (measured: at most 1.3e-3)


@pytest.fixture(scope="module")
def digits(mnist_train, tmp_path_factory) -> Path:
    """640 digits: 461 train and 51 validate after the 20% test split, so the last batch of 64 is odd."""
    return write_digits(tmp_path_factory.mktemp("digits"), mnist_train, 640)


def _args(folder: Path, out: Path, *extra: str) -> list[str]:
    return [*TORCHRUN, "--dataset", str(folder), "--out", str(out), *extra]


def _vae(folder: Path, out: Path, *extra: str) -> list[str]:
    """The MLP VAE, streamed by a DataLoader worker per process, the decoded images shared in the disk cache."""
    return _args(
        folder,
        out,
        "--model",
        "vae",
        "--batch-size",
        "64",
        "--patience",
        "0",
        "--seed",
        "2",
        "--load",
        "stream",
        "--workers",
        "1",
        "--keep-decoded",
        *extra,
    )


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # read here: conftest sets a private cache folder after import
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _wait_for_epochs(out: Path, epochs: int, proc: subprocess.Popen) -> None:
    """Until the resume state beside `out` holds `epochs` whole epochs (rank 0 writes it after each)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(read_metadata(resume_path(out))["history"]) >= epochs:
                return
        except CheckpointError:  # not written yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"the run did not reach epoch {epochs} while running: {_finish(proc)}")


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int:
    """The process torchrun started for `rank` (its child whose environment says RANK=rank)."""
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if f"\nPPid:\t{launcher.pid}\n" in status and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    raise AssertionError(f"no process of rank {rank} under {launcher.pid}")


def test_the_two_shares_of_each_batch_make_the_single_process_batch():
    order = torch.randperm(461, generator=torch.Generator().manual_seed(0))
    whole = Dist().shards(order, 64)
    parts = [Dist(rank, 2).shards(order, 64) for rank in range(2)]
    assert [len(batch) for batch in whole] == [64] * 7 + [13] and all(len(p) == len(whole) for p in parts)
    for b, batch in enumerate(whole[:-1]):
        assert sorted(torch.cat([parts[0][b], parts[1][b]]).tolist()) == sorted(batch.tolist())
    last = torch.cat([parts[0][-1], parts[1][-1]]).tolist()  # 13 images: one repeated from the start, 7 each
    assert len(last) == 14 and sorted(set(last)) == sorted(whole[-1].tolist() + [int(order[0])])
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        Dist(0, 3).shards(order, 64)


def test_two_processes_follow_the_single_process_loss_curve(digits, tmp_path):
    two = tmp_path / "two.safetensors"
    code, out, err = _finish(
        _start(
            _args(
                digits,
                two,
                "--model",
                "conv_ae",
                "--widths",
                "8",
                "16",
                "32",
                "--latent-dim",
                "16",
                "--load",
                "memory",
                *(f"--{k.replace('_', '-')}={v}" for k, v in MATCH.items()),
            )
        )
    )
    assert code == 0, err
    assert "in 2 processes" in out and out.count("epoch 3:") == 1  # rank 0 alone reports
    one = train(TrainConfig(model=CONV_AE, **MATCH), load_folder(digits).train, tmp_path / "one.safetensors")

    ckpt = load_checkpoint(two)  # no process group needed to load it
    assert ckpt.meta["world_size"] == 2 and ckpt.meta["global_batch"] == 64 and ckpt.meta["epochs"] == 3
    curves = [
        [(h["train"]["loss"], h["val"]["loss"]) for h in ckpt.meta["history"]],
        [(h.train["loss"], h.val["loss"]) for h in one.history],
    ]
    print("two processes:", curves[0], "\none process:", curves[1])
    for (train2, val2), (train1, val1) in zip(*curves):
        assert train2 == pytest.approx(train1, rel=TOLERANCE) and val2 == pytest.approx(val1, rel=TOLERANCE)
    assert curves[1][-1][1] < curves[1][0][1] - 20  # and the curve is a real one: it falls


def test_a_killed_process_ends_the_run_with_a_message_and_resume_finishes_it_the_same(digits, tmp_path):
    whole = tmp_path / "whole.safetensors"
    uninterrupted = _start(_vae(digits, whole, "--epochs", "8"))
    assert _finish(uninterrupted)[0] == 0

    cut = tmp_path / "cut.safetensors"
    launcher = _start(_vae(digits, cut, "--epochs", "8"))
    _wait_for_epochs(cut, 2, launcher)
    os.kill(_rank_pid(launcher, 1), signal.SIGKILL)
    code, _, err = _finish(launcher)
    assert code != 0
    assert "Process 0 of 2: the distributed run broke off" in err and "Kept: the best model so far" in err, err
    kept = load_checkpoint(cut)  # the last good model, whole
    done = len(read_metadata(resume_path(cut))["history"])
    assert kept.meta["world_size"] == 2 and 2 <= done < 8, "the run finished before it could be killed"

    code, _, err = _finish(_start(_vae(digits, cut, "--epochs", "8", "--resume")))
    assert code == 0, err
    a, b = load_checkpoint(whole), load_checkpoint(cut)
    assert a.meta["best_epoch"] == b.meta["best_epoch"] and len(b.meta["history"]) == 8
    assert all(torch.allclose(a.model.state_dict()[k], b.model.state_dict()[k]) for k in a.model.state_dict())


def test_ctrl_c_stops_both_processes_at_a_batch_and_keeps_the_best_model(digits, tmp_path):
    out = tmp_path / "stopped.safetensors"
    launcher = _start(_vae(digits, out, "--epochs", "500"))
    _wait_for_epochs(out, 1, launcher)
    launcher.send_signal(signal.SIGINT)  # torchrun passes it on to both processes
    _, printed, err = _finish(launcher)
    assert err.count("Stopping after this batch") == 2, err  # each process once; their DataLoader workers never
    ckpt = load_checkpoint(out)
    assert ckpt.meta["status"] == "stopped" and ckpt.meta["epochs"] >= 1 and "Stopped during epoch" in printed


def test_a_diverging_run_stops_both_processes_with_one_message(digits, tmp_path):
    code, out, err = _finish(_start(_vae(digits, tmp_path / "nan.safetensors", "--epochs", "2", "--lr", "1e9")))
    assert code != 0 and out.count("Try a lower learning rate") == 1, (out, err)
    assert f'File "{ROOT / "aelab"}' not in err  # torchrun reports the exit codes; our processes raised nothing
