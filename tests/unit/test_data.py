"""Datasets through the real torchvision loader and the real MNIST files."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import datasets

from aelab.data.dataset import DatasetUnavailable, split_validation
from aelab.data.registry import CLASSES, RAW_FILES, TORCHVISION_DATASETS, available_datasets, data_dir, load_dataset

ROOT = Path(__file__).resolve().parents[2]


def test_mnist_splits_are_in_memory_tensors(mnist_train, mnist_test):
    for data in (mnist_train, mnist_test):
        assert data.images.dtype == torch.float32 and data.images.shape[1:] == (1, 28, 28)
        assert 0.0 <= data.images.min() and data.images.max() == 1.0
        assert set(data.labels.unique().tolist()) == set(range(10))
    assert len(mnist_test) == 10_000
    assert available_datasets()["mnist"] and available_datasets()["digits"]


def test_raw_file_names_and_class_names_are_the_ones_torchvision_has():
    for name, cls_name in TORCHVISION_DATASETS.items():
        names = {Path(url).name.removesuffix(".gz") for url, _ in getattr(datasets, cls_name).resources}
        assert names == {file for files in RAW_FILES.values() for file in files}
        assert CLASSES[name] == getattr(datasets, cls_name).classes


def test_a_damaged_raw_file_is_refused_in_one_line(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    source = data_dir() / "MNIST" / "raw"
    for file in RAW_FILES["test"]:
        (raw / file).write_bytes((source / file).read_bytes())
    with open(raw / RAW_FILES["test"][0], "r+b") as f:
        f.truncate(10_000)  # an interrupted copy
    with pytest.raises(DatasetUnavailable, match=r"is not an idx file of bytes \(the MNIST format\)") as err:
        load_dataset("mnist", "test", root=tmp_path, download=False, cached=True)
    assert "\n" not in str(err.value)


def test_the_cached_split_is_torchvisions_bit_for_bit_and_never_imports_it(mnist_test, tmp_path, settings):
    script = (
        "import hashlib, sys; from aelab.data.registry import load_dataset; "
        "d = load_dataset('mnist', 'test', cached=True); "
        "print('torchvision' in sys.modules, hashlib.sha256(d.images.numpy().tobytes()).hexdigest(), "
        "hashlib.sha256(d.labels.numpy().tobytes()).hexdigest(), d.classes)"
    )
    with settings(cache_dir=tmp_path):  # the subprocesses' cache folder
        runs = [
            subprocess.run(
                [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.split(" ", 1)
            for _ in range(2)
        ]
    assert [imported for imported, _ in runs] == ["False", "False"]  # read with NumPy, then from the cache
    expected = (
        f"{hashlib.sha256(mnist_test.images.numpy().tobytes()).hexdigest()} "
        f"{hashlib.sha256(mnist_test.labels.numpy().tobytes()).hexdigest()} {mnist_test.classes}\n"
    )
    assert runs[0][1] == runs[1][1] == expected  # bit for bit the split torchvision decodes
    assert len(list(tmp_path.glob("dataset-*.npz"))) == 1


def test_missing_dataset_offline_names_the_folder_and_files(tmp_path, monkeypatch):
    # Point the downloader at a closed local port: the real download code runs and fails at once.
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("mnist", "test", root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "t10k-images-idx3-ubyte" in message and "AELAB_DATA_DIR" in message
    assert "Download failed" in message and "\n" not in message
    with pytest.raises(DatasetUnavailable, match="not in"):
        load_dataset("fashion_mnist", "train", root=tmp_path, download=False)


def test_the_data_folder_is_the_variable_else_the_shared_folder_else_data_in_the_checkout(
    tmp_path, monkeypatch, settings
):
    with settings(data_dir=tmp_path):
        assert data_dir() == tmp_path and data_dir("elsewhere") == Path("elsewhere")
    monkeypatch.setattr("aelab.settings.SHARED_DATA_DIR", tmp_path)
    with settings(data_dir=None):
        assert data_dir() == tmp_path
    monkeypatch.setattr("aelab.settings.SHARED_DATA_DIR", tmp_path / "absent")
    with settings(data_dir=None):
        assert data_dir() == ROOT / "data"


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown dataset 'cifar'"):
        load_dataset("cifar")


def test_digits_are_mnist_like_and_always_available():
    train, test = load_digits_pair()
    assert train.images.shape[1:] == (1, 28, 28) and len(train) + len(test) == 1797
    ink = train.images[:, 0].sum(0)
    assert ink[:4].sum() == 0 and ink[-4:].sum() == 0  # content inside the central 20x20 box
    assert not set(map(tuple, train.images.flatten(1).numpy()[:50])) & set(map(tuple, test.images.flatten(1).numpy()))


def load_digits_pair():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


def test_folder_of_images_uses_subfolders_as_labels_and_skips_unreadable_files(tmp_path, mnist_test):
    for i in range(40):
        label = int(mnist_test.labels[i])
        if label not in (0, 1):
            continue
        folder = tmp_path / ("zero" if label == 0 else "one")
        folder.mkdir(exist_ok=True)
        pixels = (mnist_test.images[i, 0].numpy() * 255).astype(np.uint8)
        Image.fromarray(255 - pixels).save(folder / f"{i}.png")  # black on white, as people draw
    (tmp_path / "one" / "broken.png").write_bytes(b"not an image")
    train, test = load_dataset(str(tmp_path), "train"), load_dataset(str(tmp_path), "test")
    assert train.classes == ["one", "zero"]
    assert len(train) + len(test) == sum(1 for _ in tmp_path.rglob("*.png")) - 1
    images = torch.cat([train.images, test.images])
    assert images.shape[1:] == (1, 28, 28) and images[:, 0, 0, 0].max() < 0.1  # inverted to white on black


def test_validation_split_is_disjoint_and_seeded(mnist_train):
    a_train, a_val = split_validation(mnist_train, 0.1, seed=3)
    b_train, b_val = split_validation(mnist_train, 0.1, seed=3)
    assert torch.equal(a_val.images, b_val.images)
    assert len(a_train) + len(a_val) == len(mnist_train) and len(a_val) == round(0.1 * len(mnist_train))


def test_the_train_pages_picture_modes_become_load_folders_side_and_channels():
    from aelab.data.folders import COLOUR, DIGITS, GRAY, picture_options

    assert picture_options(DIGITS, 64) == {"side": None, "channels": None}  # the digit recipe's own 1x28x28
    assert picture_options(GRAY, 32) == {"side": 32, "channels": 1}
    assert picture_options(COLOUR, 64) == {"side": 64, "channels": 3}
    with pytest.raises(ValueError, match="Unknown picture mode"):
        picture_options("sepia", 28)
