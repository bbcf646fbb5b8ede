"""What a training run is asked to do (`TrainConfig`, whose fields are also the CLI's flags) and what it reports
(`EpochLog`, `TrainResult`, `Status`): plain data that the loop, the app, the command line and checkpoints share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from aelab.data.registry import DATASETS
from aelab.models.config import ModelConfig
from aelab.models.noise import NOISE_KINDS

LR_SCHEDULES = ("cosine", "constant")


class Status(str, Enum):
    """How a run ended (TRAINING: saved mid-run). A str, so metadata stores and compares the plain word."""

    FINISHED = "finished"
    EARLY_STOPPED = "early_stopped"
    STOPPED = "stopped"
    TIME_BUDGET = "time_budget"
    DIVERGED = "diverged"
    TRAINING = "training"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def completed(self) -> bool:
        """The run went as far as it meant to: all its epochs, or until validation stopped improving."""
        return self in (Status.FINISHED, Status.EARLY_STOPPED)


_STATUS_LABELS = {
    Status.FINISHED: "Finished",
    Status.EARLY_STOPPED: "Stopped early",
    Status.STOPPED: "Stopped",
    Status.TIME_BUDGET: "Time budget reached",
    Status.DIVERGED: "Diverged",
    Status.TRAINING: "Training",
}


@dataclass
class TrainConfig:
    """One training run, as stored in the checkpoint's metadata. A field with a "help" in its metadata is also
    a `train` flag (aelab.training.flags reads it)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: str = field(
        default="mnist",
        metadata={"always": True, "help": f"{', '.join(DATASETS)}, a folder of images or a zip of them"},
    )
    epochs: int = field(default=20, metadata={"always": True, "help": "passes over the training images"})
    batch_size: int = field(default=128, metadata={"help": "images per optimiser step (default %(default)s)"})
    lr: float = field(default=3e-3, metadata={"help": "learning rate (default %(default)s)"})
    lr_schedule: str = field(
        default="cosine",
        metadata={"choices": LR_SCHEDULES, "help": "cosine: decay to 0 over the run (epochs or --max-seconds)"},
    )
    seed: int = field(default=0, metadata={"help": "seeds the weights, the split and every epoch's shuffle"})
    kl_warmup_epochs: float = field(
        default=0.0, metadata={"flag": "--kl-warmup", "help": "epochs over which beta ramps up from 0"}
    )
    noise: str | None = field(
        default=None,
        metadata={
            "flag": "--denoise",
            "choices": NOISE_KINDS,
            "help": "train to remove this noise: corrupted inputs, clean targets",
        },
    )
    noise_level: float = field(default=0.3, metadata={"help": "how strong --denoise's noise is (default %(default)s)"})
    shift: int = field(default=0, metadata={"help": "augment: random shifts of up to this many pixels"})
    shift_until: float = field(
        default=0.7, metadata={"help": "fraction of the run that is shifted; the rest sees the images as they are"}
    )
    val_fraction: float = 0.1
    patience: int = field(default=5, metadata={"help": "early stopping patience in epochs (0: off)"})
    max_seconds: float | None = field(default=None, metadata={"help": "stop after this much training time"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, mps"})

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
    status: Status
    message: str
    path: Path | None  # the best model's checkpoint, None if no epoch produced one
    history: list[EpochLog]
    best_epoch: int | None
    best_val: float
