"""Training loop shared by the CLI and the app: progress callbacks, a stop flag, safe stops.

The best model (by validation loss) is saved after each improving epoch, and a resume state
(last weights, optimiser, counters) after every epoch, both atomically. Each epoch reseeds
from (seed, epoch), so a run resumed at an epoch boundary retraces the uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from aelab.checkpoints import RESUME_SUFFIX, SUFFIX, read_tensors, save_checkpoint, save_tensors, update_metadata
from aelab.data import ImageData, random_shift, split_validation
from aelab.models import Autoencoder, ModelConfig, build_model
from aelab.noise import NOISE_KINDS, add_noise


LR_SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    """One training run, as stored in the checkpoint's metadata."""

    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: str = "mnist"
    epochs: int = 20
    batch_size: int = 128
    lr: float = 3e-3
    lr_schedule: str = "cosine"  # "cosine" decays lr to 0 over the run (epochs or time budget); "constant"
    seed: int = 0
    kl_warmup_epochs: float = 0.0  # beta ramps linearly from 0 over this many epochs
    noise: str | None = None  # denoising: corrupt inputs, reconstruct clean targets
    noise_level: float = 0.3
    shift: int = 0  # augmentation: random whole-pixel shifts of up to this many pixels (0 = none)
    shift_until: float = 0.7  # fraction of the run that is shifted; the rest sees the images as they are
    val_fraction: float = 0.1
    patience: int = 5  # early stopping: epochs without validation improvement (0 = never)
    max_seconds: float | None = None  # wall-clock budget for the whole run
    device: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig.from_dict(self.model)
        if self.noise is not None and self.noise not in NOISE_KINDS:
            raise ValueError(f"Unknown noise {self.noise!r}; known: {', '.join(NOISE_KINDS)}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or not 0 < self.val_fraction < 1:
            raise ValueError("epochs and batch_size must be >= 1, lr > 0 and 0 < val_fraction < 1")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"Unknown lr_schedule {self.lr_schedule!r}; known: {', '.join(LR_SCHEDULES)}")
        if not 0 <= self.shift <= 4 or not 0 <= self.shift_until <= 1:
            raise ValueError("shift must be 0 to 4 pixels and shift_until between 0 and 1")

    def to_dict(self) -> dict:
        return asdict(self) | {"model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return cls(**data)


@dataclass
class EpochLog:
    epoch: int  # 1-based
    train: dict[str, float]
    val: dict[str, float]
    seconds: float
    images_per_second: float
    fraction: float = 1.0  # of the epoch's batches that ran: below 1 when a run stopped mid-epoch


def epochs_trained(history: list[EpochLog]) -> float:
    """Epochs of training in `history`, counting a stopped last epoch by the share of it that ran."""
    return sum(h.fraction for h in history)


@dataclass
class TrainResult:
    status: str  # finished | early_stopped | stopped | time_budget | diverged
    message: str
    path: Path | None  # the best model's checkpoint, None if no epoch produced one
    history: list[EpochLog]
    best_epoch: int | None
    best_val: float


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
def validation_loss(model: Autoencoder, cfg: TrainConfig, images: torch.Tensor, seed: int) -> dict[str, float]:
    """Mean loss terms over `images`, with fixed noise so epochs are comparable."""
    model.eval()
    device = next(model.parameters()).device
    gen, eps = _generators(seed, device)
    totals: dict[str, float] = {}
    for start in range(0, len(images), 1000):
        target = images[start:start + 1000]
        x = add_noise(target, cfg.noise, cfg.noise_level, gen) if cfg.noise else target
        terms = model.loss(x.to(device), target.to(device), generator=eps)
        for k, v in terms.items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(target)
    return {k: v / len(images) for k, v in totals.items()}


def train(
    cfg: TrainConfig,
    data: ImageData,
    out: str | Path,
    on_batch: Callable[[int, int, int, float], None] | None = None,
    on_epoch: Callable[[EpochLog, Autoencoder], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train `cfg.model` on `data`, saving the best model to `out`.

    `on_batch(epoch, batch, n_batches, loss)` and `on_epoch(log, model)` report progress;
    `should_stop()` is polled each batch. Ctrl-C, the stop flag, the time budget and a
    non-finite loss all end the run cleanly with the best model so far on disk.
    """
    out = Path(out)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)  # initial weights: nn.Module init draws from the global generator
    model = build_model(cfg.model)
    train_data, val_data = split_validation(data, cfg.val_fraction, cfg.seed)
    model.init_output_bias(train_data.images)
    # channels-last weights make oneDNN's conv kernels ~30% faster on CPU; activations follow them
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    meta_base = {"dataset": data.name, "classes": data.classes, "train": cfg.to_dict(), "seed": cfg.seed}
    history: list[EpochLog] = []
    best_val, best_epoch, bad_epochs, start_epoch, elapsed = math.inf, None, 0, 0, 0.0
    if resume:
        state = _load_resume(resume_path(out), model, optimizer, cfg)
        history = [EpochLog(**h) for h in state["history"]]
        best_val, best_epoch, bad_epochs = state["best_val"], state["best_epoch"], state["bad_epochs"]
        start_epoch, elapsed = len(history), state["elapsed"]

    n, bs = len(train_data), cfg.batch_size
    n_batches = math.ceil(n / bs)
    started = time.perf_counter() - elapsed
    status, message = "finished", f"Trained {cfg.epochs} epochs."
    for epoch in range(start_epoch, cfg.epochs):
        epoch_start = time.perf_counter()
        model.train()
        gen, eps = _generators(cfg.seed * 100_003 + epoch, device)  # per epoch, so a resume retraces the run
        perm = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        seen = 0
        try:
            for b in range(n_batches):
                target = train_data.images[perm[b * bs:(b + 1) * bs]]
                epochs_done = epoch + b / n_batches
                progress = _progress(cfg, epochs_done, time.perf_counter() - started)
                if cfg.shift and progress < cfg.shift_until:
                    target = random_shift(target, cfg.shift, gen)
                optimizer.param_groups[0]["lr"] = learning_rate(cfg, progress)
                x = add_noise(target, cfg.noise, cfg.noise_level, gen) if cfg.noise else target
                ramp = min(1.0, epochs_done / cfg.kl_warmup_epochs) if cfg.kl_warmup_epochs > 0 else 1.0
                terms = model.loss(x.to(device), target.to(device), beta=cfg.model.beta * ramp, generator=eps)
                loss = terms["loss"]
                if not torch.isfinite(loss) or loss.item() > 1e8:
                    status = "diverged"
                    message = (f"Loss became {loss.item():.3g} at epoch {epoch + 1}, batch {b + 1}: training stopped. "
                               "Try a lower learning rate.")
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v.item() * len(target)
                seen += len(target)
                if on_batch:
                    on_batch(epoch + 1, b + 1, n_batches, loss.item())
                if should_stop and should_stop():
                    status, message = "stopped", f"Stopped during epoch {epoch + 1}."
                    break
                if cfg.max_seconds is not None and time.perf_counter() - started > cfg.max_seconds:
                    status, message = "time_budget", f"Time budget of {cfg.max_seconds:g} s reached in epoch {epoch + 1}."
                    break
        except KeyboardInterrupt:
            status, message = "stopped", f"Interrupted during epoch {epoch + 1}."
        if status == "diverged" or seen == 0:
            break
        val = validation_loss(model, cfg, val_data.images, seed=cfg.seed)
        seconds = time.perf_counter() - epoch_start
        log = EpochLog(epoch + 1, {k: v / seen for k, v in sums.items()}, val, seconds, seen / seconds, seen / n)
        history.append(log)
        if val["loss"] < best_val:
            best_val, best_epoch, bad_epochs = val["loss"], epoch + 1, 0
            save_checkpoint(out, model, meta_base | _progress_meta(history, best_epoch, best_val, "training"))
        else:
            bad_epochs += 1
        if status == "finished":  # a whole epoch: a valid point to resume from
            _save_resume(resume_path(out), model, optimizer, history, best_val, best_epoch, bad_epochs,
                         time.perf_counter() - started, cfg)
        if on_epoch:
            on_epoch(log, model)
        if status != "finished":
            break
        if cfg.patience and bad_epochs >= cfg.patience:
            status, message = "early_stopped", f"Validation loss stopped improving; best epoch {best_epoch}."
            break
    if best_epoch is None:
        return TrainResult(status, message + " No model was saved.", None, history, None, best_val)
    update_metadata(out, meta_base | _progress_meta(history, best_epoch, best_val, status))
    return TrainResult(status, message + f" Best model (epoch {best_epoch}) saved to {out}.", out, history,
                       best_epoch, best_val)


def learning_rate(cfg: TrainConfig, progress: float) -> float:
    """The lr at `progress` (0 to 1) through the run. Cosine decay lets a short run start high
    and still end with small steps; the README's speed section has the measured difference."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _progress(cfg: TrainConfig, epochs_done: float, seconds: float) -> float:
    """How far through the run training is: by epochs, or by the time budget if that ends it sooner."""
    by_time = seconds / cfg.max_seconds if cfg.max_seconds else 0.0
    return max(epochs_done / cfg.epochs, by_time)


def _progress_meta(history: list[EpochLog], best_epoch: int | None, best_val: float, status: str) -> dict:
    epochs = epochs_trained(history)
    return {"epochs": int(epochs) if epochs.is_integer() else round(epochs, 2), "best_epoch": best_epoch,
            "best_val_loss": best_val, "status": status, "history": [asdict(h) for h in history]}


def _save_resume(path: Path, model: Autoencoder, optimizer: torch.optim.Optimizer, history: list[EpochLog],
                 best_val: float, best_epoch: int | None, bad_epochs: int, elapsed: float, cfg: TrainConfig) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for idx, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"optim.{idx}.{name}"] = torch.as_tensor(value)
    meta = {"format": "aelab-checkpoint", "version": 1, "kind": "resume", "train": cfg.to_dict(),
            "model": cfg.model.to_dict(), "history": [asdict(h) for h in history], "best_val": best_val,
            "best_epoch": best_epoch, "bad_epochs": bad_epochs, "elapsed": elapsed,
            "param_groups": opt["param_groups"]}
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
