"""Training in a background thread, so a Streamlit page only polls and never blocks.

A `TrainingJob` runs `aelab.training.trainer.train` in a daemon thread that calls no Streamlit API (none is
safe off the script thread) and publishes its progress as immutable `JobState` snapshots. The
thread computes with one intra-op thread: on a small CPU two OpenMP workers spin against the
app's other sessions and everyone slows down (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

import numpy as np
import torch

from aelab.data.dataset import DatasetUnavailable, ImageData, split_validation
from aelab.data.streaming import ImageFiles
from aelab.explore.metrics import record_test_metrics
from aelab.images.render import to_pictures
from aelab.models.autoencoders import Autoencoder
from aelab.models.config import DIGIT_SHAPE
from aelab.models.noise import add_noise
from aelab.serving import OwnerWatch
from aelab.store.checkpoints import update_metadata
from aelab.training.config import EpochLog, Status, TrainConfig, TrainResult
from aelab.training.flags import train_command
from aelab.training.trainer import train

MAX_RUNNING = 2  # trainings at once per process, jobs and experiments alike: a third would starve every session
N_PREVIEW = 8  # validation images whose reconstructions a page shows

log = logging.getLogger(__name__)


class JobStatus(str, Enum):
    """A job's life before its run has a `train.Status` of its own."""

    IDLE = "idle"
    RUNNING = "running"
    ERROR = "error"


ERROR_LABEL = "Training failed"
OWNER_LEFT_LABEL = "Stopped: its owner left"


class JobRefused(RuntimeError):
    """A job cannot start now; the message says why and what to do."""


@dataclass(frozen=True)
class JobState:
    """A job's progress at one moment. Immutable: the thread publishes a new one, readers keep theirs."""

    status: JobStatus | Status = JobStatus.IDLE  # the run's train.Status once it has ended
    phase: str = "training"  # training | testing (measuring test metrics) | done
    epoch: int = 0  # 1-based epoch of the last batch, 0 before the first
    batch: int = 0
    n_batches: int = 0
    epochs: int = 0  # planned
    loss: float | None = None  # last batch's loss
    history: tuple[EpochLog, ...] = ()
    # pictures (render.to_pictures) of the first validation images, clean and as the model sees them (noised
    # when denoising)
    originals: np.ndarray = field(default_factory=lambda: np.zeros((0, *DIGIT_SHAPE[1:]), np.float32))
    inputs: np.ndarray = field(default_factory=lambda: np.zeros((0, *DIGIT_SHAPE[1:]), np.float32))
    reconstructions: np.ndarray | None = None  # after epoch `preview_epoch`
    preview_epoch: int = 0
    result: TrainResult | None = None
    metrics: dict | None = None  # test metrics stored in the checkpoint, when measured
    error: str | None = None  # one line, when the thread raised
    started: float = 0.0  # time.perf_counter() values
    ended: float | None = None
    stop_requested: bool = False
    owner_left: bool = False  # the run stopped because its OwnerWatch expired

    @property
    def running(self) -> bool:
        return self.status == JobStatus.RUNNING

    @property
    def finished(self) -> bool:
        return self.status not in (JobStatus.IDLE, JobStatus.RUNNING)

    @property
    def label(self) -> str:
        """How the job ended, in words."""
        if self.status == JobStatus.ERROR:
            return ERROR_LABEL
        if not isinstance(self.status, Status):
            raise ValueError(f"The job is {self.status.value}: it has not ended.")
        return OWNER_LEFT_LABEL if self.owner_left and self.status == Status.STOPPED else self.status.label

    @property
    def elapsed(self) -> float:
        """Seconds since the start, frozen at the end."""
        return ((self.ended or time.perf_counter()) - self.started) if self.started else 0.0

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
    """One training run in a background thread; `snapshot()` is the one way to read it.

    With a `watch`, the run stops itself once the watch expires (its owner has gone, serving.OwnerWatch).
    """

    def __init__(self, watch: OwnerWatch | None = None) -> None:
        self.watch = watch
        self.cfg: TrainConfig | None = None
        self.out: Path | None = None
        self.command: str | None = None  # the equivalent CLI command, stored in the checkpoint
        self.n_images = self.n_val = 0  # the data given, and the part of it held out for validation
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: _JobThread | None = None
        self._state = JobState()

    def start(self, cfg: TrainConfig, data: ImageData, out: str | Path, test: ImageData | str | None = None) -> None:
        """Train `cfg` on `data` into `out` in a daemon thread; afterwards measure test metrics on `test`
        (a test split, or a dataset name whose test split is loaded) and store them in the checkpoint."""
        if self._thread is not None:
            raise RuntimeError("A TrainingJob runs once; create another for a new run.")
        _, val = split_validation(data, cfg.val_fraction, cfg.seed)  # the split train() makes
        if isinstance(val.images, ImageFiles):  # the app holds what it trains on in memory (available_datasets)
            raise ValueError("A training job needs its images in memory, not streamed from files.")
        self.cfg, self.out, self.n_images, self.n_val = cfg, Path(out), len(data), len(val)
        try:
            self.command = train_command(cfg, self.out, data.plain)
        except ValueError:  # a setting no flag sets: better no command than one that trains something else
            self.command = None
        clean = val.images[:N_PREVIEW]
        gen = torch.Generator().manual_seed(cfg.seed)
        preview = add_noise(clean, cfg.noise, cfg.noise_level, gen) if cfg.noise else clean
        self._state = JobState(
            JobStatus.RUNNING,
            epochs=cfg.epochs,
            originals=to_pictures(clean).copy(),
            inputs=to_pictures(preview).copy(),
            started=time.perf_counter(),
        )
        self._thread = _JobThread(
            self, target=self._run, args=(cfg, data, self.out, test, preview), name=f"aelab-train-{self.out.stem}"
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to end after the current batch; the best model so far stays saved."""
        self._stop.set()
        self._update(stop_requested=True)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (tests, shutdown); True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.snapshot().finished

    def snapshot(self) -> JobState:
        with self._lock:
            return self._state

    def _update(self, **changes) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)

    # --- the thread ----------------------------------------------------------------------

    def _should_stop(self) -> bool:
        """Polled each batch: the Stop button, or an owner gone for longer than the watch allows."""
        if not self._stop.is_set() and self.watch is not None and self.watch.expired():
            self._update(owner_left=True)
            self._stop.set()
        return self._stop.is_set()

    def _run(
        self, cfg: TrainConfig, data: ImageData, out: Path, test: ImageData | str | None, preview: torch.Tensor
    ) -> None:
        try:
            torch.set_num_threads(1)  # see the module docstring
            on_epoch = functools.partial(self._on_epoch, preview)
            result = train(cfg, data, out, self._on_batch, on_epoch, self._should_stop)
            if result.path is not None and self.command:
                update_metadata(result.path, {"command": self.command})  # as the CLI records its own
            metrics = None
            if result.path is not None and test is not None:
                self._update(phase="testing")
                try:
                    metrics = record_test_metrics(result.path, test)
                except DatasetUnavailable as err:
                    log.warning("No test metrics for %s: %s", out.name, err)
                except Exception:  # the model is trained and saved all the same: say so, not "error"
                    log.exception("Measuring test metrics for %s failed", out.name)
            self._update(result=result, metrics=metrics, status=result.status)
        except Exception as err:  # anything at all: the page must learn that the run is over, and why
            log.exception("Training %s failed", out.name)
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            error = f"{type(err).__name__}: {first}" if first else type(err).__name__
            self._update(status=JobStatus.ERROR, error=error)
        finally:
            with self._lock:
                if self._state.status == JobStatus.RUNNING:  # only a BaseException (SystemExit) gets here
                    self._state = replace(
                        self._state, status=JobStatus.ERROR, error="The training thread ended unexpectedly."
                    )
                self._state = replace(self._state, phase="done", ended=time.perf_counter())

    def _on_batch(self, epoch: int, batch: int, n_batches: int, loss: float) -> None:
        self._update(epoch=epoch, batch=batch, n_batches=n_batches, loss=loss if math.isfinite(loss) else None)

    def _on_epoch(self, preview: torch.Tensor, entry: EpochLog, model: Autoencoder) -> None:
        """Reconstruct the `preview` images (as the model sees them) with this job's own model, outside the lock.

        eval() is safe here: train() switches the model back to training mode each epoch.
        """
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            images = to_pictures(torch.sigmoid(model.reconstruct(preview.to(device))))
        with self._lock:
            self._state = replace(
                self._state, history=(*self._state.history, entry), reconstructions=images, preview_epoch=entry.epoch
            )


class _JobThread(threading.Thread):
    """A training thread that knows its job, so running jobs can be found from the threads."""

    def __init__(self, job: TrainingJob, **kwargs) -> None:
        super().__init__(daemon=True, **kwargs)
        self.training_job = job


_SUBMIT_LOCK = threading.Lock()
_WORK_ATTRIBUTE = "aelab_training"  # set on a thread while it trains, a job's or a page's script thread


def running_jobs() -> list[TrainingJob]:
    """Every job training in this process, found through the live threads themselves.

    Not a module-level list: Streamlit re-imports the app's modules when one of their files
    changes, which would empty such a list while its jobs train on.
    """
    return [
        job
        for thread in threading.enumerate()
        if (job := getattr(thread, "training_job", None)) is not None and job.snapshot().running
    ]


def _trainings() -> int:
    """Jobs training plus threads inside `slot`."""
    return len(running_jobs()) + sum(bool(getattr(t, _WORK_ATTRIBUTE, False)) for t in threading.enumerate())


def _refuse_if_full() -> None:
    if (n := _trainings()) >= MAX_RUNNING:
        raise JobRefused(
            f"{n} models are already training on this server (the limit is {MAX_RUNNING}): "
            "wait for one to finish, or stop one, then try again."
        )


@contextmanager
def slot() -> Iterator[None]:
    """Count training done on the calling thread (a page's short experiment) against MAX_RUNNING."""
    thread = threading.current_thread()
    with _SUBMIT_LOCK:
        _refuse_if_full()
        setattr(thread, _WORK_ATTRIBUTE, True)
    try:
        yield
    finally:
        setattr(thread, _WORK_ATTRIBUTE, False)


def submit(
    cfg: TrainConfig,
    data: ImageData,
    out: str | Path,
    test: ImageData | str | None = None,
    watch: OwnerWatch | None = None,
) -> TrainingJob:
    """Start a job, unless MAX_RUNNING are training already or another one writes `out`; `watch` stops it
    once its owner has gone (see TrainingJob)."""
    out = Path(out)
    with _SUBMIT_LOCK:
        if any(job.out is not None and job.out.resolve() == out.resolve() for job in running_jobs()):
            raise JobRefused(f"A model named {out.stem} is being trained right now: choose another name.")
        _refuse_if_full()
        job = TrainingJob(watch)
        job.start(cfg, data, out, test)
    return job
