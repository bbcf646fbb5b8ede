"""Folders of PNG files written from MNIST digits, for the tests of folders and streaming."""

from pathlib import Path

import numpy as np
from PIL import Image

from aelab.data.dataset import ImageData, sample_indices


def write_digits(folder: Path, data: ImageData, count: int) -> Path:
    """`count` images spread over `data` (its files are sorted by label) as PNGs, one subfolder per label."""
    for i in sample_indices(len(data), count, seed=0):
        label = folder / str(int(data.labels[i]))
        label.mkdir(parents=True, exist_ok=True)
        pixels = (data.images[i, 0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(label / f"{i:06d}.png")
    return folder


def write_shapes(folder: Path, count: int, classes: int = 3) -> Path:
    """`count` of the package's coloured shapes (64x64 RGB) of its first `classes` shapes as PNGs, one subfolder
    per shape."""
    from aelab.data.registry import load_shapes

    data = load_shapes("test")
    data = data.subset(np.flatnonzero(data.labels.numpy() < classes))
    for i in sample_indices(len(data), count, seed=0):
        label = folder / data.label_name(i)
        label.mkdir(parents=True, exist_ok=True)
        pixels = (data.images[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(label / f"{i:06d}.png")
    return folder


def write_celeba(root: Path, count: int) -> Path:
    """A fake CelebA of `count` faces in torchvision's layout under `root`: 178x218 JPEGs, each one colour past the
    centre 140x140 the recipe keeps, and the partition list putting face i in split i % 3 (2: test)."""
    from aelab.data.registry import CELEBA_FOLDER, CELEBA_IMAGES, CELEBA_PARTITION

    faces = root / CELEBA_FOLDER / CELEBA_IMAGES
    faces.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(count):
        pixels = np.zeros((218, 178, 3), np.uint8)
        pixels[33:185, 13:165] = rng.integers(0, 256, 3, dtype=np.uint8)
        Image.fromarray(pixels).save(faces / f"{i + 1:06d}.jpg", quality=95)
        lines.append(f"{i + 1:06d}.jpg {i % 3}")
    (root / CELEBA_FOLDER / CELEBA_PARTITION).write_text("\n".join(lines) + "\n")
    return root
