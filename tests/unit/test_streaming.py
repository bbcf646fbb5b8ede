"""Folders and zips streamed from disk: the same images as in memory, unreadable files skipped and counted,
the decoded images kept on disk, the choice by size; and a training run on a stream."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from folders import write_digits

from aelab.data import folders
from aelab.data.dataset import DatasetUnavailable
from aelab.data.folders import INDEXING, load_folder, load_zip
from aelab.data.registry import load_dataset
from aelab.data.streaming import ImageFiles, batches, in_order
from aelab.models.config import ModelConfig
from aelab.store.checkpoints import load_checkpoint
from aelab.training.config import TrainConfig
from aelab.training.trainer import train


@pytest.fixture(scope="module")
def digits(mnist_train, tmp_path_factory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits"), mnist_train, 300)


def _all(images: ImageFiles) -> torch.Tensor:
    return torch.cat(list(batches(images, in_order(len(images), 64))))


def test_a_streamed_folder_holds_the_images_labels_and_split_of_the_folder_in_memory(digits):
    memory, streamed = load_folder(digits), load_folder(digits, stream=True, workers=1)
    for held, read in zip(memory, streamed):
        assert isinstance(read.images, ImageFiles) and len(read) == len(held)
        assert read.classes == held.classes and torch.equal(read.labels, held.labels)
        assert torch.equal(_all(read.images), held.images)  # decoded by a worker process, bit for bit


def test_a_zip_on_disk_streams_like_its_folder(digits, tmp_path):
    archive = tmp_path / "digits.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(digits.rglob("*.png")):
            out.write(path, Path("digits") / path.relative_to(digits))  # one wrapping folder: not a class
    streamed = load_dataset(str(archive), "test", stream=True, workers=2)
    memory = load_zip(archive.read_bytes(), archive.name).test
    assert streamed.classes == memory.classes == [str(d) for d in range(10)]
    assert torch.equal(_all(streamed.images), memory.images)


def test_unreadable_files_are_skipped_and_counted_and_training_goes_on(digits, tmp_path):
    folder = tmp_path / "damaged"
    folder.mkdir()
    for path in sorted(digits.rglob("*.png"))[:200]:
        (folder / path.parent.name).mkdir(exist_ok=True)
        (folder / path.relative_to(digits)).write_bytes(path.read_bytes())
    bad = sorted(folder.rglob("*.png"))[::10]  # 20 of 200: truncated, not images, or gone after indexing
    for i, path in enumerate(bad):
        if i % 3 == 0:
            path.write_bytes(path.read_bytes()[:40])
        elif i % 3 == 1:
            path.write_bytes(b"not a png at all")
    splits = load_folder(folder, stream=True, workers=1)
    for path in bad[2::3]:
        path.unlink()
    cfg = TrainConfig(model=ModelConfig.for_model("vae"), epochs=2, batch_size=32, patience=0)
    result = train(cfg, splits.train, tmp_path / "m.safetensors")
    assert result.status == "finished" and len(result.history) == 2
    counted = splits.train.images.skipped  # files of the folder found unreadable, once each
    assert 0 < counted <= len(bad) and load_checkpoint(result.path).meta["epochs"] == 2
    assert _all(splits.test.images).shape[0] + _all(splits.train.images).shape[0] == 200 - len(bad)
    assert splits.train.images.skipped == len(bad)  # now that every file has been read


def test_a_folder_with_no_readable_image_is_refused_in_one_line(tmp_path):
    for i in range(5):
        (tmp_path / f"{i}.png").write_bytes(b"garbage")
    with pytest.raises(DatasetUnavailable, match="fewer than two readable images"):
        load_folder(tmp_path, stream=True)


def test_decoded_images_are_kept_on_disk_and_read_back_without_the_files(digits, tmp_path, monkeypatch, settings):
    with settings(cache_dir=tmp_path):
        first = load_folder(digits, stream=True, workers=2, keep_decoded=True).train
        pixels = _all(first.images)
        assert len(list(tmp_path.glob("decoded-*.bin"))) == 1
        again = load_folder(digits, stream=True, workers=0, keep_decoded=True).train  # the same files: the same key
        monkeypatch.setattr(again.images.source, "read", lambda index: pytest.fail("a file was read again"))
        assert torch.equal(_all(again.images), pixels)


def test_the_choice_is_by_decoded_size_and_indexing_reports_progress(digits, monkeypatch):
    small = load_folder(digits, stream=None)
    assert isinstance(small.train.images, torch.Tensor)
    monkeypatch.setattr(folders, "IN_MEMORY_BYTES", 299 * folders.IMAGE_BYTES)  # 300 images no longer fit
    reports = []
    large = load_folder(digits, stream=None, progress=lambda *report: reports.append(report))
    assert isinstance(large.train.images, ImageFiles)
    assert [phase for phase, *_ in reports] == [INDEXING] * 4  # every 100 entries (310 with the folders), then
    assert reports[-1][1:] == (310, 300)  # the total; no file is read before training asks for it
    assert isinstance(load_dataset(str(digits), stream=None).images, ImageFiles)
    assert isinstance(load_dataset(str(digits), stream=False).images, torch.Tensor)  # forced into memory


def test_a_stream_trains_to_the_same_model_as_the_folder_in_memory(digits, tmp_path):
    cfg = TrainConfig(model=ModelConfig.for_model("vae"), epochs=2, batch_size=48, patience=0, shift=1)
    memory = train(cfg, load_folder(digits).train, tmp_path / "memory.safetensors")
    streamed = train(cfg, load_folder(digits, stream=True, workers=1).train, tmp_path / "streamed.safetensors")
    a, b = (load_checkpoint(r.path).model.state_dict() for r in (memory, streamed))
    assert all(torch.equal(a[k], b[k]) for k in a)  # same batches, same order, same bits
    assert np.isclose(memory.best_val, streamed.best_val, rtol=0, atol=0)
