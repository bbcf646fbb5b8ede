"""Training in several processes with PyTorch's own engine: `torchrun` starts them, `torch.distributed`
joins them (gloo on CPU, NCCL on CUDA) and DistributedDataParallel averages their gradients.

`train` goes through the few seams of `Dist`; in one process (no torchrun) each one is a no-op, so
a single-process run is the same code with nothing added.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DistributedSampler, TensorDataset

# How long a process waits for the others at one collective (rank 0 validating and saving, a
# hung peer) before its run ends with a message; a peer that dies is noticed at once.
TIMEOUT = timedelta(minutes=10)
LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # set by torchrun in each process it starts
_ENDING = threading.Event()  # set once this process knows its run broke off: it only says why, then exits


class Terminated(Exception):
    """The launcher asked this process to end (SIGTERM: torchrun does so when another process failed)."""


class RunAborted(RuntimeError):
    """A distributed run ended because one of its processes failed; the message says what is kept."""


@dataclass(frozen=True)
class Dist:
    """This process's place in a run: rank 0 of 1 unless torchrun started several."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device | None = None  # the device this process trains on (None: the run picks it)

    @property
    def is_main(self) -> bool:
        """Rank 0 alone validates, reports and writes files."""
        return self.rank == 0

    def shards(self, order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
        """This process's part of each global batch of `order`: DistributedSampler's interleaved
        share, so that the processes' parts of batch b together are order[b*B:(b+1)*B] (the last
        one padded from the start of `order` to divide evenly). One process gets the whole batches."""
        if batch_size % self.world_size:
            raise ValueError(
                f"The batch size ({batch_size}) must be a multiple of the number of processes "
                f"({self.world_size}): it is the global batch, split evenly between them."
            )
        sampler: DistributedSampler[int] = DistributedSampler(
            TensorDataset(order), self.world_size, self.rank, shuffle=False
        )
        return [order[index] for index in BatchSampler(sampler, batch_size // self.world_size, drop_last=False)]

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to call for a training step: DDP around `model` when there are several processes."""
        if self.world_size == 1:
            return model
        device = self.device
        cuda_ids = [device.index] if device is not None and device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=cuda_ids)

    def sum(self, values: list[float]) -> list[float]:
        """Each value summed over the processes."""
        return self._reduce(values, torch_dist.ReduceOp.SUM)

    def largest(self, value: int) -> int:
        """The largest of the processes' values: how they agree on a stop any one of them asks for."""
        return int(self._reduce([value], torch_dist.ReduceOp.MAX)[0])

    def weighted(self, loss: torch.Tensor, count: int, total: float) -> torch.Tensor:
        """`loss` (a mean over this process's `count` images) scaled so that DDP's average of the
        processes' gradients is the gradient of the mean over all `total` images, even when the
        parts differ in size (unreadable files skipped)."""
        return loss if self.world_size == 1 else loss * (count * self.world_size / total)

    def barrier(self) -> None:
        if self.world_size > 1:
            torch_dist.barrier()

    def aborted(self, cause: BaseException, kept: str = "") -> RunAborted:
        """The one-line error that ends this process when the run broke off; rank 0 says what it kept.
        From here on torchrun's SIGTERM (it comes once another process has failed) is ignored, so that
        the line gets printed."""
        _ENDING.set()
        if isinstance(cause, Terminated):
            reason = "torchrun stopped it, as it does when another process fails"
        else:  # gloo's "[file.cc:545] Read error [addr]: Connection reset by peer. This is typically ..."
            first = re.sub(r"^\[[^\]]*\]\s*", "", str(cause).strip().split("\n")[0]) or type(cause).__name__
            reason = first.split(". ")[0].rstrip(".")
        return RunAborted(
            f"Process {self.rank} of {self.world_size}: the distributed run broke off ({reason})."
            f"{' ' + kept if kept and self.is_main else ''}"
        )

    def _reduce(self, values: list[float], op: torch_dist.ReduceOp.RedOpType) -> list[float]:
        if self.world_size == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(tensor, op)
        return tensor.tolist()


ONE_PROCESS = Dist()


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def session(device: torch.device) -> Iterator[Dist]:
    """Join the processes torchrun started, on `device` (gloo on CPU, NCCL on CUDA), and leave
    them at the end; without torchrun, one process and nothing to join.

    SIGTERM, which torchrun sends the others when one process fails, becomes `Terminated` (once,
    for the rest of the process), so that each process ends through the same path and message
    as one whose peer's connection closed.
    """
    if not launched():
        yield ONE_PROCESS
        return
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"Distributed training runs on the CPU (gloo) or CUDA (NCCL), not {device.type}.")
    rank, world_size, local_rank = (int(os.environ[name]) for name in LAUNCHER_VARIABLES)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)

    owner = os.getpid()

    def terminated(signum, frame) -> None:
        if os.getpid() != owner:  # a forked DataLoader worker (torchrun signals the whole group): just end
            os._exit(128 + signum)
        if not _ENDING.is_set():
            _ENDING.set()
            raise Terminated

    signal.signal(signal.SIGTERM, terminated)
    dist = Dist(rank, world_size, local_rank, device)
    try:
        yield dist
        try:  # leave together (rank 0 may still be testing): a process group torn down while another
            torch_dist.barrier()  # process still talks to it can abort that process
        except RuntimeError as err:  # rank 0 failed after training, and said why
            raise dist.aborted(err) from None
    finally:
        torch_dist.destroy_process_group()
