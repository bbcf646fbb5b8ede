"""Datasets as in-memory tensors: torchvision's MNIST family, scikit-learn's digits, a folder.

A whole split is one (N, 1, 28, 28) float tensor in [0, 1] (white ink on black), batched by
indexing, so training never touches PIL per image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DATA_DIR_ENV = "AELAB_DATA_DIR"
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TORCHVISION_DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
DATASETS = (*TORCHVISION_DATASETS, "digits")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
UNLABELLED = -1


class DatasetUnavailable(RuntimeError):
    """The dataset is not on disk and could not be downloaded; the message says where to put it."""


@dataclass
class ImageData:
    """A labelled split held in memory."""

    name: str
    images: torch.Tensor  # (N, 1, 28, 28) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64; UNLABELLED where unknown
    classes: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> ImageData:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageData(self.name, self.images[index], self.labels[index], self.classes)

    def label_name(self, i: int) -> str:
        label = int(self.labels[i])
        return self.classes[label] if 0 <= label < len(self.classes) else "unlabelled"


def data_dir(path: str | Path | None = None) -> Path:
    """The argument, else $AELAB_DATA_DIR, else ./data beside the package."""
    return Path(path or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()


def load_dataset(name: str, split: str = "train", root: str | Path | None = None, download: bool = True) -> ImageData:
    """Load `name` (a known dataset or a folder of images) for split 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if name in TORCHVISION_DATASETS:
        return _load_torchvision(name, split, data_dir(root), download)
    if name == "digits":
        return load_digits(split)
    if Path(name).expanduser().is_dir():
        return load_folder(Path(name).expanduser(), split)
    raise ValueError(f"Unknown dataset {name!r}: use one of {', '.join(DATASETS)} or a folder of images")


def _load_torchvision(name: str, split: str, root: Path, download: bool) -> ImageData:
    from torchvision import datasets

    cls = getattr(datasets, TORCHVISION_DATASETS[name])
    train = split == "train"
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise DatasetUnavailable(_missing_message(cls, root, train)) from None
        try:
            ds = cls(str(root), train=train, download=True)
        except Exception as err:  # offline, proxy, partial download: all mean "not available"
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DatasetUnavailable(f"{_missing_message(cls, root, train)} Download failed: {reason}") from None
    images = ds.data.unsqueeze(1).float().div_(255.0)
    return ImageData(name, images, ds.targets.long(), [str(c) for c in ds.classes])


def _missing_message(cls: type, root: Path, train: bool) -> str:
    folder = root / cls.__name__ / "raw"
    prefix = "train" if train else "t10k"
    files = [Path(url).name.removesuffix(".gz") for url, _ in cls.resources if Path(url).name.startswith(prefix)]
    return (f"{cls.__name__} ({'train' if train else 'test'} split) is not in {folder}: expected "
            f"{' and '.join(files)} there. Set {DATA_DIR_ENV} to a folder holding {cls.__name__}/raw/, "
            "or connect to the internet to download it.")


def load_digits(split: str = "train", test_fraction: float = 0.2) -> ImageData:
    """scikit-learn's bundled 8x8 digits, made MNIST-like: scaled into a 20x20 box inside 28x28."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    small = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    box = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False, antialias=True)
    images = F.pad(box, (4, 4, 4, 4)).clamp(0.0, 1.0)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    train_idx, test_idx = _split_indices(len(images), test_fraction, seed=0)
    idx = train_idx if split == "train" else test_idx
    return ImageData("digits", images[idx], labels[idx], [str(d) for d in range(10)])


def load_folder(folder: Path, split: str = "train", test_fraction: float = 0.2) -> ImageData:
    """A folder of images, labelled by subfolder when there are subfolders; preprocessed like uploads."""
    from aelab.images import ImageError, preprocess_bytes

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    classes = sorted({p.parent.relative_to(folder).parts[0] for p in files if p.parent != folder})
    images, labels = [], []
    for path in files:
        try:
            images.append(preprocess_bytes(path.read_bytes(), path.name).image)
        except ImageError:
            continue  # unreadable or blank files are skipped, as a person would expect
        top = path.parent.relative_to(folder).parts
        labels.append(classes.index(top[0]) if top else UNLABELLED)
    if len(images) < 2:
        raise DatasetUnavailable(f"{folder} holds fewer than two readable images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    tensor = torch.from_numpy(np.stack(images)).float().unsqueeze(1)
    train_idx, test_idx = _split_indices(len(tensor), test_fraction, seed=0)
    idx = train_idx if split == "train" else test_idx
    return ImageData(folder.name, tensor[idx], torch.tensor(labels, dtype=torch.long)[idx], classes)


def _split_indices(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random split, so train and test never overlap across calls."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_held = max(1, int(round(n * fraction)))
    return perm[n_held:], perm[:n_held]


def split_validation(data: ImageData, fraction: float, seed: int) -> tuple[ImageData, ImageData]:
    """Hold out `fraction` of a training split for validation (early stopping)."""
    train_idx, val_idx = _split_indices(len(data), fraction, seed)
    return data.subset(train_idx), data.subset(val_idx)


def available_datasets(root: str | Path | None = None) -> dict[str, bool]:
    """Which datasets can be loaded without a download (digits always can)."""
    from torchvision import datasets

    root = data_dir(root)
    found = {}
    for name, cls_name in TORCHVISION_DATASETS.items():
        raw = root / cls_name / "raw"
        cls = getattr(datasets, cls_name)
        found[name] = all((raw / Path(url).name.removesuffix(".gz")).exists() for url, _ in cls.resources)
    return found | {"digits": True}
