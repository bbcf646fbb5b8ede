"""A folder or zip as a dataset beyond training: what a checkpoint trained on one records (its path and split),
the same held-out split read back at the model's shape, the seeded part of a streamed split the app holds, and
CelebA listed when its files are there (a fake tree in torchvision's layout)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from folders import write_celeba, write_shapes

from aelab import cli, serving
from aelab.data.dataset import SPLIT_SEED, TEST_FRACTION, sample_indices
from aelab.data.folders import load_folder
from aelab.data.registry import available_datasets, dataset_title, load_dataset
from aelab.data.sources import folder_record, folder_shape, held, is_folder, recorded_folder, split_note
from aelab.store.checkpoints import load_checkpoint


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("data") / "pics", 30)


def test_a_run_on_a_folder_records_its_path_and_split_and_the_app_reads_that_test_split_back(folder, tmp_path):
    out = tmp_path / "pics.safetensors"
    argv = ["train", "--dataset", str(folder), "--side", "16", "--channels", "3", "--model", "conv_ae"]
    assert cli.main([*argv, "--epochs", "1", "--threads", "1", "--workers", "0", "--out", str(out)]) == 0
    meta = load_checkpoint(out).meta
    recorded = {"path": str(folder.resolve()), "test_fraction": TEST_FRACTION, "seed": SPLIT_SEED, "digits": False}
    assert meta["folder"] == recorded and recorded_folder(meta) == recorded
    assert meta["dataset"] == "pics" and meta["classes"] == ["ellipse", "square", "triangle"]
    assert split_note(meta, recorded["path"]) is None  # held out as this aelab holds out
    # What the app reads (the recorded path at the model's shape) is the split the run held out for its test.
    shape = folder_shape(meta, recorded["path"], (3, 16, 16))
    test = load_dataset(recorded["path"], "test", side=shape[1], channels=shape[0], stream=None)
    assert len(test) == meta["metrics"]["images"] == round(30 * TEST_FRACTION)
    torch.testing.assert_close(test.images, load_folder(folder, side=16, channels=3).test.images, rtol=0, atol=0)
    assert is_folder(recorded["path"]) and dataset_title(recorded["path"]) == "pics"
    other = {**meta, "folder": {**recorded, "seed": SPLIT_SEED + 1}}
    assert "some test images here were trained on" in split_note(other, recorded["path"])


def test_a_folder_at_1x28x28_is_read_by_the_digit_recipe_unless_its_model_learnt_it_plainly(folder):
    path = str(folder.resolve())
    assert folder_shape({}, path, (1, 28, 28)) is None  # the digit recipe, a folder's default
    assert folder_shape({}, path, (3, 32, 32)) == (3, 32, 32)
    plain = folder_record(load_folder(folder, side=28, channels=1).train)
    assert plain["folder"]["digits"] is False and folder_shape(plain, path, (1, 28, 28)) == (1, 28, 28)
    assert folder_shape(plain, "/elsewhere", (1, 28, 28)) is None
    assert folder_record(load_dataset("shapes", "test")) == {}  # a known dataset records its name only


def test_the_app_holds_a_seeded_part_of_a_streamed_split_the_same_images_as_in_memory(folder):
    kept = load_folder(folder, side=16, channels=3).test
    streamed = load_folder(folder, side=16, channels=3, stream=True, workers=0).test
    assert held(kept) is kept
    whole = held(streamed)
    torch.testing.assert_close(whole.images, kept.images, rtol=0, atol=0)  # the same files, decoded the same
    part = held(streamed, at_most=4, seed=3)
    rows = sample_indices(len(kept), 4, 3)
    torch.testing.assert_close(part.images, kept.images[rows], rtol=0, atol=0)
    np.testing.assert_array_equal(part.labels.numpy(), kept.labels.numpy()[rows])
    assert part.note == f"pics: 4 of its {len(kept)} images, drawn with seed 3, are held in memory: the pages show them"


def test_celeba_is_listed_when_its_files_are_there_and_the_app_holds_a_seeded_part(tmp_path):
    assert not available_datasets(tmp_path)["celeba"]
    write_celeba(tmp_path, 12)
    assert available_datasets(tmp_path)["celeba"]
    test = load_dataset("celeba", "test", tmp_path, download=False, workers=0)
    part = held(test, at_most=3)
    assert isinstance(part.images, torch.Tensor) and part.images.shape == (3, 3, 64, 64) and len(test) == 4
    assert part.note == "CelebA: 3 of its 4 images, drawn with seed 0, are held in memory: the pages show them"
    shutil.rmtree(tmp_path / "celeba" / "img_align_celeba")
    assert not available_datasets(tmp_path)["celeba"]


def test_a_zip_or_folder_typed_in_a_served_app_is_read_only_inside_its_allowed_folders(folder, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "pics"), "zip", folder)
    assert serving.resolve_folder(archive, None, zips=True) == tmp_path / "pics.zip"
    with pytest.raises(serving.FolderRefused, match="^There is no folder at"):
        serving.resolve_folder(archive, None)  # the Train page's folder box takes folders only
    allowed = (folder.parent,)
    assert serving.resolve_folder("pics", allowed, zips=True, use="exploring") == folder.resolve()
    with pytest.raises(serving.FolderRefused) as refused:
        serving.resolve_folder(archive, allowed, zips=True, use="exploring")
    inside = f"type a folder inside {folder.parent.name}/, relative to it (e.g. my_digits)."
    assert str(refused.value) == f"{archive} is not open to exploring here: {inside}"
