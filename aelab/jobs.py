"""Training in a background thread, so a Streamlit page only polls and never blocks.

A `TrainingJob` runs `aelab.train.train` in a daemon thread and keeps what a page shows
(progress, loss history, reconstructions of a few fixed validation images, the outcome)
behind a lock; `snapshot()` copies it all at once. The thread calls no Streamlit API
(none is safe off the script thread). A page keeps its job in session state, which
outlives reruns and page switches; `submit` refuses a third concurrent job in the process
so that other browser sessions stay usable.

The thread computes with one intra-op thread. Measured with `streamlit run app.py`, Chromium
on the page and a second session drawing the latent map, on a busy 2-core machine: the
default MLP VAE run trained at 2,000-4,600 images/s with one thread against 90-800 with
torch's default two, whose OpenMP workers spin-wait for a core. torch makes the setting
process-wide (threads started later, Streamlit's script threads included, inherit it); the
second session's map took 21-37 s then against 15-33 s, mostly Chromium drawing it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aelab.data import DatasetUnavailable, ImageData, split_validation
from aelab.metrics import record_test_metrics
from aelab.models import Autoencoder
from aelab.noise import add_noise
from aelab.train import EpochLog, TrainConfig, TrainResult, train

MAX_RUNNING = 2  # concurrent jobs per process: a third would starve every other session
N_PREVIEW = 8  # validation images whose reconstructions a page shows
RUNNING = "running"
ERROR = "error"

log = logging.getLogger(__name__)


class JobRefused(RuntimeError):
    """A job cannot start now; the message says why and what to do."""


@dataclass(frozen=True)
class JobState:
    """A consistent copy of a job's progress, safe to read while training goes on."""

    status: str  # idle | running | a TrainResult status | error
    phase: str  # training | testing (measuring test metrics) | done
    epoch: int  # 1-based epoch of the last batch, 0 before the first
    batch: int
    n_batches: int
    epochs: int  # planned
    loss: float | None  # last batch's loss
    history: tuple[EpochLog, ...]
    originals: np.ndarray  # (k, 28, 28) clean validation images
    inputs: np.ndarray  # what the model is given: the originals, noised when denoising
    reconstructions: np.ndarray | None  # (k, 28, 28) after epoch `preview_epoch`
    preview_epoch: int
    result: TrainResult | None
    metrics: dict | None  # test metrics stored in the checkpoint, when measured
    error: str | None  # one line, when the thread raised
    elapsed: float  # seconds since start (frozen at the end)
    stop_requested: bool

    @property
    def finished(self) -> bool:
        return self.status not in ("idle", RUNNING)

    @property
    def fraction(self) -> float:
        """Share of the planned batches done, for a progress bar."""
        if self.finished:
            return 1.0
        if not self.n_batches:
            return 0.0
        return min(1.0, ((self.epoch - 1) * self.n_batches + self.batch) / (self.epochs * self.n_batches))

    @property
    def seconds_left(self) -> float | None:
        """Time to finish all planned epochs at the pace of those done (None before one is)."""
        if self.finished or not self.history:
            return None
        per_epoch = sum(h.seconds for h in self.history) / len(self.history)
        return per_epoch * max(0.0, self.epochs - self.epoch + 1 - self.batch / max(1, self.n_batches))


class TrainingJob:
    """One training run in a background thread; every public read goes through the lock."""

    def __init__(self) -> None:
        self.cfg: TrainConfig | None = None
        self.out: Path | None = None
        self.n_images = self.n_val = 0  # the data given, and the part of it held out for validation
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: _JobThread | None = None
        self._status, self._phase = "idle", "training"
        self._epoch = self._batch = self._n_batches = 0
        self._loss: float | None = None
        self._history: list[EpochLog] = []
        self._originals = self._inputs = np.zeros((0, 28, 28), np.float32)
        self._preview_x: torch.Tensor | None = None
        self._reconstructions: np.ndarray | None = None
        self._preview_epoch = 0
        self._result: TrainResult | None = None
        self._metrics: dict | None = None
        self._error: str | None = None
        self._started = self._ended = 0.0

    def start(self, cfg: TrainConfig, data: ImageData, out: str | Path, test: ImageData | str | None = None) -> None:
        """Train `cfg` on `data` into `out` in a daemon thread; afterwards measure test metrics on `test`
        (a test split, or a dataset name whose test split is loaded) and store them in the checkpoint."""
        if self._thread is not None:
            raise RuntimeError("A TrainingJob runs once; create another for a new run.")
        _, val = split_validation(data, cfg.val_fraction, cfg.seed)  # the split train() makes
        self.cfg, self.out, self.n_images, self.n_val = cfg, Path(out), len(data), len(val)
        clean = val.images[:N_PREVIEW]
        gen = torch.Generator().manual_seed(cfg.seed)
        noisy = add_noise(clean, cfg.noise, cfg.noise_level, gen) if cfg.noise else clean
        self._preview_x = noisy
        self._originals, self._inputs = clean[:, 0].numpy().copy(), noisy[:, 0].numpy().copy()
        self._status, self._started = RUNNING, time.perf_counter()
        self._thread = _JobThread(self, target=self._run, args=(cfg, data, self.out, test),
                                  name=f"aelab-train-{self.out.stem}")
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to end after the current batch; the best model so far stays saved."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (tests, shutdown); True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.snapshot().finished

    def snapshot(self) -> JobState:
        with self._lock:
            end = self._ended if self._ended else time.perf_counter()
            return JobState(
                self._status, self._phase, self._epoch, self._batch, self._n_batches,
                self.cfg.epochs if self.cfg else 0, self._loss, tuple(self._history), self._originals,
                self._inputs, None if self._reconstructions is None else self._reconstructions.copy(),
                self._preview_epoch, self._result, None if self._metrics is None else dict(self._metrics),
                self._error, end - self._started if self._started else 0.0, self._stop.is_set())

    @property
    def status(self) -> str:
        return self.snapshot().status

    @property
    def running(self) -> bool:
        return self.snapshot().status == RUNNING

    @property
    def epoch(self) -> int:
        return self.snapshot().epoch

    @property
    def batch(self) -> int:
        return self.snapshot().batch

    @property
    def n_batches(self) -> int:
        return self.snapshot().n_batches

    @property
    def history(self) -> list[EpochLog]:
        return list(self.snapshot().history)

    @property
    def reconstructions(self) -> np.ndarray | None:
        return self.snapshot().reconstructions

    @property
    def result(self) -> TrainResult | None:
        return self.snapshot().result

    @property
    def error(self) -> str | None:
        return self.snapshot().error

    # --- the thread ----------------------------------------------------------------------

    def _run(self, cfg: TrainConfig, data: ImageData, out: Path, test: ImageData | str | None) -> None:
        try:
            torch.set_num_threads(1)  # see the module docstring
            result = train(cfg, data, out, self._on_batch, self._on_epoch, self._stop.is_set)
            metrics = None
            if result.path is not None and test is not None:
                with self._lock:
                    self._phase = "testing"
                try:
                    metrics = record_test_metrics(result.path, test)
                except DatasetUnavailable as err:
                    log.warning("No test metrics for %s: %s", out.name, err)
                except Exception:  # the model is trained and saved all the same: say so, not "error"
                    log.exception("Measuring test metrics for %s failed", out.name)
            with self._lock:
                self._result, self._metrics, self._status = result, metrics, result.status
        except Exception as err:  # anything at all: the page must learn that the run is over, and why
            log.exception("Training %s failed", out.name)
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            with self._lock:
                self._status, self._error = ERROR, f"{type(err).__name__}: {first}" if first else type(err).__name__
        finally:
            with self._lock:
                if self._status == RUNNING:  # only a BaseException (SystemExit) gets here
                    self._status, self._error = ERROR, "The training thread ended unexpectedly."
                self._phase, self._ended = "done", time.perf_counter()

    def _on_batch(self, epoch: int, batch: int, n_batches: int, loss: float) -> None:
        with self._lock:
            self._epoch, self._batch, self._n_batches = epoch, batch, n_batches
            self._loss = loss if math.isfinite(loss) else None

    def _on_epoch(self, entry: EpochLog, model: Autoencoder) -> None:
        """Reconstruct the preview images with this job's own model, outside the lock.

        eval() is safe here: train() switches the model back to training mode each epoch.
        """
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            images = torch.sigmoid(model.reconstruct(self._preview_x.to(device)))[:, 0].cpu().numpy()
        with self._lock:
            self._history.append(entry)
            self._reconstructions, self._preview_epoch = images, entry.epoch


class _JobThread(threading.Thread):
    """A training thread that knows its job, so running jobs can be found from the threads."""

    def __init__(self, job: TrainingJob, **kwargs) -> None:
        super().__init__(daemon=True, **kwargs)
        self.training_job = job


_SUBMIT_LOCK = threading.Lock()


def running_jobs() -> list[TrainingJob]:
    """Every job training in this process, found through the live threads themselves.

    Not a module-level list: Streamlit re-imports all of the app's modules whenever one of
    their files changes, which would empty such a list while its jobs train on.
    """
    return [job for thread in threading.enumerate()
            if (job := getattr(thread, "training_job", None)) is not None and job.running]


def submit(cfg: TrainConfig, data: ImageData, out: str | Path, test: ImageData | str | None = None) -> TrainingJob:
    """Start a job, unless MAX_RUNNING are training already or another one writes `out`."""
    out = Path(out)
    with _SUBMIT_LOCK:
        running = running_jobs()
        if any(job.out is not None and job.out.resolve() == out.resolve() for job in running):
            raise JobRefused(f"A model named {out.stem} is being trained right now: choose another name.")
        if len(running) >= MAX_RUNNING:
            raise JobRefused(f"{len(running)} models are already training on this server (the limit is "
                             f"{MAX_RUNNING}): wait for one to finish, or stop one, then try again.")
        job = TrainingJob()
        job.start(cfg, data, out, test)
    return job
