"""Training loop shared by the CLI and the app: progress callbacks, a stop flag, safe stops.

The best model (by validation loss) is saved after each improving epoch, and a resume state
(last weights, optimiser, counters) after every epoch, both atomically. Each epoch reseeds
from (seed, epoch), so a run resumed at an epoch boundary retraces the uninterrupted one.

Under torchrun the same loop runs in every process (aelab.training.distributed): each trains on its share
of every global batch, DDP averages the gradients, the processes agree each batch on whether to
stop, and rank 0 alone validates, reports and saves while the others wait for it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from aelab.data.dataset import ImageData, random_shift, split_validation
from aelab.data.sources import folder_record
from aelab.data.streaming import Images, batches, in_order, representative
from aelab.models.autoencoders import Autoencoder, build_model
from aelab.models.config import shape_text
from aelab.models.noise import add_noise
from aelab.store.checkpoints import (
    FORMAT,
    FORMAT_VERSION,
    RESUME_SUFFIX,
    SUFFIX,
    read_tensors,
    save_checkpoint,
    save_tensors,
    update_metadata,
)
from aelab.training.config import EpochLog, Status, TrainConfig, TrainResult, epochs_trained
from aelab.training.distributed import ONE_PROCESS, Dist, Terminated


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, then Apple's MPS, then the CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _generators(seed: int, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """One generator for the data (order, shifts, corruption) and the reparameterisation noise's own
    on `device`, seeded from the first: two generators given one seed repeat each other's numbers,
    and torch's global generator is shared with every other thread of the app."""
    data = torch.Generator().manual_seed(seed)
    return data, torch.Generator(device).manual_seed(int(torch.randint(2**62, (1,), generator=data)))


def resume_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(SUFFIX) + RESUME_SUFFIX)


@torch.no_grad()
def validation_loss(model: Autoencoder, cfg: TrainConfig, images: Images, seed: int) -> dict[str, float]:
    """Mean loss terms over `images`, with fixed noise so epochs are comparable."""
    model.eval()
    device = next(model.parameters()).device
    gen, eps = _generators(seed, device)
    totals: dict[str, float] = {}
    seen = 0
    for target in batches(images, in_order(len(images), 1000)):
        if not len(target):  # a stream's batch of unreadable files
            continue
        x = add_noise(target, cfg.noise, cfg.noise_level, gen) if cfg.noise else target
        terms = model.loss(x.to(device), target.to(device), generator=eps)
        for k, v in terms.items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(target)
        seen += len(target)
    return {k: v / seen for k, v in totals.items()}


@dataclass
class _End:
    status: Status
    message: str


class _Run:
    """One run's model, optimiser, data and bookkeeping, fresh or restored from the resume state."""

    def __init__(self, cfg: TrainConfig, data: ImageData, out: Path, resume: bool, dist: Dist) -> None:
        self.cfg, self.out, self.dist, self.device = cfg, out, dist, dist.device or pick_device(cfg.device)
        if data.shape != cfg.model.image_shape:
            raise ValueError(
                f"{cfg.model.name} is built for {shape_text(cfg.model.image_shape)} images; "
                f"{data.name} is {shape_text(data.shape)}"
            )
        torch.manual_seed(cfg.seed)  # initial weights: nn.Module init draws from the global generator
        model = build_model(cfg.model)
        self.train_data, self.val_data = split_validation(data, cfg.val_fraction, cfg.seed)
        model.init_output_bias(representative(self.train_data.images))
        # channels-last weights make oneDNN's conv kernels faster on CPU; activations follow them
        # (torch's overloads of Module.to list these two apart; Module.to takes them together)
        self.model = model.to(self.device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.net = dist.wrap(self.model)  # what a training step calls: the model, or DDP around it
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.meta = {
            "dataset": data.name,
            **folder_record(data),
            "classes": data.classes,
            "train": cfg.to_dict(),
            "seed": cfg.seed,
            "world_size": dist.world_size,
            "global_batch": cfg.batch_size,
        }
        self.history: list[EpochLog] = []
        self.best_val, self.best_epoch, self.bad_epochs, elapsed = math.inf, None, 0, 0.0
        if resume:
            state = _load_resume(resume_path(out), self.model, self.optimizer, cfg)
            self.history = [EpochLog(**h) for h in state["history"]]
            self.best_val, self.best_epoch = state["best_val"], state["best_epoch"]
            self.bad_epochs = state["bad_epochs"]
            elapsed = state["elapsed"]
        self.started = time.perf_counter() - elapsed

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def record(self, log: EpochLog, whole: bool) -> None:
        """Keep the epoch; save the model when it is the best so far, and the resume state after a whole epoch."""
        self.history.append(log)
        if log.val["loss"] < self.best_val:
            self.best_val, self.best_epoch, self.bad_epochs = log.val["loss"], log.epoch, 0
            save_checkpoint(self.out, self.model, self.meta | self.progress_meta(Status.TRAINING))
        else:
            self.bad_epochs += 1
        if whole:
            _save_resume(resume_path(self.out), self, self.seconds())

    def progress_meta(self, status: Status) -> dict:
        epochs = epochs_trained(self.history)
        return {
            "epochs": int(epochs) if epochs.is_integer() else round(epochs, 2),
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val,
            "status": status.value,
            "history": [asdict(h) for h in self.history],
        }


def train(
    cfg: TrainConfig,
    data: ImageData,
    out: str | Path,
    on_batch: Callable[[int, int, int, float], None] | None = None,
    on_epoch: Callable[[EpochLog, Autoencoder], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = False,
    dist: Dist = ONE_PROCESS,
) -> TrainResult:
    """Train `cfg.model` on `data`, saving the best model to `out`.

    `on_batch(epoch, batch, n_batches, loss)` and `on_epoch(log, model)` report progress;
    `should_stop()` is polled each batch. Ctrl-C, the stop flag, the time budget and a
    non-finite loss all end the run cleanly with the best model so far on disk.

    `dist` (from distributed.session, under torchrun) makes this one of several processes
    training one model on `cfg.batch_size` images per step between them: on_epoch is called
    on rank 0 alone, and the others' results have no path. A process that fails ends the others
    with `RunAborted`, the last saved model intact.
    """
    run = _Run(cfg, data, Path(out), resume, dist)
    end = _End(Status.FINISHED, f"Trained {cfg.epochs} epochs.")
    try:
        for epoch in range(len(run.history), cfg.epochs):
            log, stop = _train_epoch(run, epoch, on_batch, should_stop)
            if log is not None and dist.is_main:
                run.record(log, whole=stop is None)
                if on_epoch:
                    on_epoch(log, run.model)
            if stop is None and cfg.patience and dist.largest(int(run.bad_epochs >= cfg.patience)):
                stop = _End(Status.EARLY_STOPPED, f"Validation loss stopped improving; best epoch {run.best_epoch}.")
            if stop is not None:
                end = stop
                break
    except (RuntimeError, Terminated) as err:  # a peer died, hung or was stopped: gloo, NCCL or torchrun says so
        if dist.world_size == 1:
            raise
        raise dist.aborted(err, _kept(run)) from None
    if run.best_epoch is None:
        return TrainResult(end.status, end.message + " No model was saved.", None, run.history, None, run.best_val)
    update_metadata(run.out, run.meta | run.progress_meta(end.status))
    return TrainResult(
        end.status,
        end.message + f" Best model (epoch {run.best_epoch}) saved to {run.out}.",
        run.out,
        run.history,
        run.best_epoch,
        run.best_val,
    )


def _kept(run: _Run) -> str:
    """What rank 0 has on disk when a distributed run breaks off."""
    if run.best_epoch is None:
        return "No epoch had finished, so no model was saved."
    return (
        f"Kept: the best model so far (epoch {run.best_epoch}) in {run.out}, and the state after epoch "
        f"{len(run.history)} to resume from."
    )


_STOPS = (None, Status.STOPPED, Status.TIME_BUDGET)  # what a process asks for at the end of a batch, by code


def _train_epoch(
    run: _Run,
    epoch: int,
    on_batch: Callable[[int, int, int, float], None] | None,
    should_stop: Callable[[], bool] | None,
) -> tuple[EpochLog | None, _End | None]:
    """One pass over the training data; the log is None when no batch counts (none ran, or the loss diverged)."""
    cfg, dist, optimizer = run.cfg, run.dist, run.optimizer
    started = time.perf_counter()
    run.model.train()
    gen, eps = _generators(cfg.seed * 100_003 + epoch, run.device)  # per epoch, so a resume retraces the run
    perm = torch.randperm(len(run.train_data), generator=gen)
    if dist.rank:  # one order for all processes; each draws its own shifts, corruption and noise
        gen, eps = _generators(int(torch.randint(2**62, (1,), generator=gen)) + dist.rank, run.device)
    shards = dist.shards(perm, cfg.batch_size)
    n_batches = len(shards)
    sums: dict[str, float] = {}
    seen, covered, stop = 0, 0, None  # images trained on; positions of the order gone through
    try:
        for b, target in enumerate(batches(run.train_data.images, shards)):
            n = len(target)
            if n == 0:  # a stream's batch of unreadable files: a blank image stands in and weighs nothing
                target = torch.zeros(1, *target.shape[1:])
            epochs_done = epoch + b / n_batches
            seconds = run.seconds()
            if cfg.shift and _progress(cfg, epochs_done, seconds) < cfg.shift_until:
                target = random_shift(target, cfg.shift, gen)
            x = add_noise(target, cfg.noise, cfg.noise_level, gen) if cfg.noise else target
            ramp = min(1.0, epochs_done / cfg.kl_warmup_epochs) if cfg.kl_warmup_epochs > 0 else 1.0
            terms = run.net(x.to(run.device), target.to(run.device), beta=cfg.model.beta * ramp, generator=eps)
            # images, loss and clock summed over the processes: all see the same loss, lr and verdict
            count, loss_sum, clocks = dist.sum([n, terms["loss"].item() * n if n else 0.0, seconds])
            if count == 0:
                continue
            loss = loss_sum / count
            if not math.isfinite(loss) or loss > 1e8:
                return None, _End(
                    Status.DIVERGED,
                    f"Loss became {loss:.3g} at epoch {epoch + 1}, batch "
                    f"{b + 1}: training stopped. Try a lower learning rate.",
                )
            optimizer.param_groups[0]["lr"] = learning_rate(cfg, _progress(cfg, epochs_done, clocks / dist.world_size))
            optimizer.zero_grad(set_to_none=True)
            dist.weighted(terms["loss"], n, count).backward()
            optimizer.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.item() * n
            seen, covered = seen + n, covered + len(shards[b])
            if on_batch:
                on_batch(epoch + 1, b + 1, n_batches, loss)
            asked = _STOPS.index(Status.STOPPED) if should_stop and should_stop() else 0
            if not asked and cfg.max_seconds is not None and run.seconds() > cfg.max_seconds:
                asked = _STOPS.index(Status.TIME_BUDGET)
            stop = _stopped(_STOPS[dist.largest(asked)], cfg, epoch)
            if stop is not None:
                break
    except KeyboardInterrupt:
        stop = _End(Status.STOPPED, f"Interrupted during epoch {epoch + 1}.")
    seen_all, covered_all, *totals = dist.sum([seen, covered, *sums.values()])  # over the processes
    if seen_all == 0:
        return None, stop
    val = validation_loss(run.model, cfg, run.val_data.images, seed=cfg.seed) if dist.is_main else {}
    seconds = time.perf_counter() - started
    train_terms = {k: v / seen_all for k, v in zip(sums, totals)}
    fraction = 1.0 if stop is None else covered_all / len(run.train_data)  # whole, though files were unreadable
    return EpochLog(epoch + 1, train_terms, val, seconds, seen_all / seconds, fraction), stop


def _stopped(status: Status | None, cfg: TrainConfig, epoch: int) -> _End | None:
    """The stop the processes agreed on at the end of a batch, in words."""
    if status is Status.STOPPED:
        return _End(status, f"Stopped during epoch {epoch + 1}.")
    if status is Status.TIME_BUDGET:
        return _End(status, f"Time budget of {cfg.max_seconds:g} s reached in epoch {epoch + 1}.")
    return None


def learning_rate(cfg: TrainConfig, progress: float) -> float:
    """The lr at `progress` (0 to 1) through the run: cosine decay lets a short run start high and still
    end with small steps."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _progress(cfg: TrainConfig, epochs_done: float, seconds: float) -> float:
    """How far through the run training is: by epochs, or by the time budget if that ends it sooner."""
    by_time = seconds / cfg.max_seconds if cfg.max_seconds else 0.0
    return max(epochs_done / cfg.epochs, by_time)


def _save_resume(path: Path, run: _Run, elapsed: float) -> None:
    tensors = {f"model.{k}": v for k, v in run.model.state_dict().items()}
    opt = run.optimizer.state_dict()
    for idx, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{idx}.{name}"] = torch.as_tensor(value)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": "resume",
        "train": run.cfg.to_dict(),
        "model": run.cfg.model.to_dict(),
        "history": [asdict(h) for h in run.history],
        "best_val": run.best_val,
        "best_epoch": run.best_epoch,
        "bad_epochs": run.bad_epochs,
        "elapsed": elapsed,
        "param_groups": opt["param_groups"],
    }
    save_tensors(path, tensors, meta)


def _load_resume(path: Path, model: Autoencoder, optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> dict:
    tensors, meta = read_tensors(path)
    if meta.get("kind") != "resume" or meta["model"] != cfg.model.to_dict():
        raise ValueError(f"{path.name} is not a resume state for this model configuration")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return meta
