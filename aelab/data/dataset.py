"""A dataset split held as one (N, C, H, W) tensor in [0, 1], so training batches by indexing and never
touches PIL per image; its held-out parts and the augmentation training uses. Torch is imported by
what handles the images, so naming a dataset or its errors (the sidebar, a map from the disk cache) does not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import torch

    from aelab.data.streaming import Images

UNLABELLED = -1
# A folder's or zip's held-out test split: this fraction of its images, drawn with this seed. Every reader of a
# folder (training, the app) divides it so, and a checkpoint trained on one records both (registry.folder_record).
TEST_FRACTION, SPLIT_SEED = 0.2, 0


class DatasetUnavailable(RuntimeError):
    """The dataset is not on disk and could not be downloaded; the message says where to put it."""


class LoadStopped(DatasetUnavailable):
    """The person stopped reading a folder or zip (its `should_stop` said so)."""


@dataclass
class ImageData:
    """A labelled split: its images in memory, or a stream's files standing for them."""

    name: str
    images: Images  # (N, C, H, W) float32 in [0, 1], or a stream's ImageFiles standing for them
    labels: torch.Tensor  # (N,) int64; UNLABELLED where unknown
    classes: list[str]
    factors: np.ndarray | None = None  # (N, F) int64 generating factors, when known (shapes)
    factor_names: tuple[str, ...] = ()  # the columns of `factors`
    note: str = ""  # what loading did that a person should know (images converted to the shape), or ""
    plain: bool = False  # a folder's or zip's files plainly converted (--side / --channels), not by the digit recipe
    source: str = ""  # the resolved folder or zip file read, "" for a known dataset or uploaded bytes

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image: what a model must take to be trained on or shown this data."""
        channels, height, width = self.images.shape[1:]
        return channels, height, width

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> ImageData:
        import torch

        from aelab.data.streaming import ImageFiles

        index = torch.as_tensor(index, dtype=torch.long)
        images = self.images.subset(index) if isinstance(self.images, ImageFiles) else self.images[index]
        factors = None if self.factors is None else self.factors[index.numpy()]
        return replace(self, images=images, labels=self.labels[index], factors=factors)

    def rows(self, index: np.ndarray | list[int]) -> torch.Tensor:
        """The images at rows `index` (k, C, H, W): indexed in memory, or decoded now from a stream's files."""
        from aelab.data.streaming import ImageFiles

        if isinstance(self.images, ImageFiles):
            return self.images.rows(index)
        return self.images[np.asarray(index, dtype=np.int64)]

    def label_name(self, i: int) -> str:
        label = int(self.labels[i])
        return self.classes[label] if 0 <= label < len(self.classes) else "unlabelled"


class Splits(NamedTuple):
    """Both splits of a folder or zip: its images are decoded once, then divided."""

    train: ImageData
    test: ImageData


def sample_indices(n: int, count: int, seed: int) -> np.ndarray:
    """`count` distinct rows of `n` (all when count >= n), sorted: the same seed picks the same images."""
    if count >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False))


def divided(whole: ImageData, test_fraction: float = TEST_FRACTION) -> Splits:
    return Splits(*(whole.subset(idx) for idx in split_indices(len(whole), test_fraction, SPLIT_SEED)))


def split_indices(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random split, so train and test never overlap across calls."""
    import torch

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_held = max(1, int(round(n * fraction)))
    return perm[n_held:], perm[:n_held]


def random_shift(images: torch.Tensor, max_px: int, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by its own whole-pixel offset in [-max_px, max_px] on both axes, zeros
    coming in: augmentation that keeps MNIST's pixel values (no resampling blur)."""
    import torch
    import torch.nn.functional as F

    (n, channels, height, width), k = images.shape, max_px
    padded = F.pad(images, (k, k, k, k))
    offsets = torch.randint(0, 2 * k + 1, (n, 2), generator=gen)
    rows = (offsets[:, 0, None] + torch.arange(height))[:, None, :, None]
    cols = (offsets[:, 1, None] + torch.arange(width))[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(channels)[None, :, None, None], rows, cols]


def split_validation(data: ImageData, fraction: float, seed: int) -> tuple[ImageData, ImageData]:
    """Hold out `fraction` of a training split for validation (early stopping)."""
    train_idx, val_idx = split_indices(len(data), fraction, seed)
    return data.subset(train_idx), data.subset(val_idx)
