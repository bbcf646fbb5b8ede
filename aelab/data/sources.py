"""A dataset as a checkpoint records it and the app shows it: a known name, or a folder's or zip's resolved
path (its name in the app's pickers, caches and links). What a run on a folder records of it (where it was
and the split it held out), and the bounded, seeded part of a streamed split (CelebA, a large folder) that
the app's pages hold in memory.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from aelab.data.dataset import SPLIT_SEED, TEST_FRACTION, sample_indices
from aelab.data.registry import dataset_shape, dataset_title
from aelab.models.config import DIGIT_SHAPE

if TYPE_CHECKING:
    from aelab.data.dataset import ImageData

FOLDER_KEY = "folder"  # the checkpoint metadata's record of the folder or zip its model was trained on
APP_IMAGES = 5_000  # images of a streamed split the app holds: 245 MB at 3x64x64
HELD_SEED = 0  # which of them: the same on every machine and every start
STREAMED = ("celeba",)  # known datasets always read from their files (registry.load_dataset): the app holds part
Shape = tuple[int, int, int]


def is_folder(name: str) -> bool:
    """Whether dataset `name` is a folder's or zip's path rather than a dataset aelab knows by name."""
    return dataset_shape(name) is None


def folder_record(data: ImageData) -> dict:
    """What a checkpoint trained on `data` records of its folder or zip: its resolved path, the held-out split
    (fraction and seed, as every reader divides it) and whether its files became pictures by MNIST's digit
    recipe; {} for a known dataset or an uploaded zip, which no later reader can find."""
    if not data.source:
        return {}
    return {
        FOLDER_KEY: {"path": data.source, "test_fraction": TEST_FRACTION, "seed": SPLIT_SEED, "digits": not data.plain}
    }


def recorded_folder(meta: dict) -> dict | None:
    """A checkpoint's record of its folder (`folder_record`) when it holds one that reads as one, else None."""
    found = meta.get(FOLDER_KEY)
    if not isinstance(found, dict) or not isinstance(found.get("path"), str) or not found["path"]:
        return None
    return found


def split_note(meta: dict, shown: str) -> str | None:
    """One line when the shown folder is the model's own but held out differently from how it was trained, else
    None: the app's test split is then not the one training held out."""
    found = recorded_folder(meta)
    if found is None or found["path"] != shown:
        return None
    if (found.get("test_fraction"), found.get("seed")) == (TEST_FRACTION, SPLIT_SEED):
        return None
    return (
        f"{dataset_title(shown)} was trained with {found.get('test_fraction')} held out (seed {found.get('seed')}); "
        f"this aelab holds out {TEST_FRACTION} (seed {SPLIT_SEED}): some test images here were trained on."
    )


def folder_shape(meta: dict, dataset: str, shape: Shape) -> Shape | None:
    """The shape a model taking `shape` images reads folder `dataset` at: None (MNIST's digit recipe, how a
    folder's files become 1x28x28 pictures by default) unless the model takes another shape or was trained on
    this folder's files plainly converted."""
    found = recorded_folder(meta)
    plain = found is not None and found["path"] == dataset and found.get("digits") is False
    return None if shape == DIGIT_SHAPE and not plain else shape


def held(data: ImageData, at_most: int | None = None, seed: int = HELD_SEED) -> ImageData:
    """A split the app can hold: itself when in memory; of a streamed one, at most `at_most` (APP_IMAGES) of its
    files drawn with `seed`, decoded now (unreadable ones left out), its note saying how many of how many."""
    import torch

    from aelab.data.streaming import ImageFiles

    if not isinstance(data.images, ImageFiles):
        return data
    part = data.subset(sample_indices(len(data), APP_IMAGES if at_most is None else at_most, seed))
    files = part.images
    assert isinstance(files, ImageFiles)  # a subset of a stream is one
    pictures, unreadable = files.source.decode(files.ids)
    keep = np.flatnonzero(~np.isin(files.ids, unreadable))
    kept = part.subset(keep) if len(keep) < len(part) else part
    note = (
        f"{dataset_title(data.name)}: {len(keep):,} of its {len(data):,} images, drawn with seed {seed}, are held in "
        "memory: the pages show them"
    )
    return dataclasses.replace(kept, images=torch.from_numpy(pictures), note=note)
