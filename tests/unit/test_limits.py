"""The limits of one folder or zip of images: files, bytes, pixels and time, progress and stopping."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from zips import zip_of

from aelab.data.dataset import DatasetUnavailable, LoadStopped
from aelab.data.folders import INDEXING, READING, load_folder, load_zip
from aelab.data.registry import load_dataset
from aelab.images.render import to_png
from aelab.settings import Limits

ROOMY = Limits(files=1_000, bytes=10 * 2**20, pixels=1_000_000, seconds=60.0)


def stroke(row: int) -> bytes:
    """A small PNG of one bar (its height set by `row`), something preprocessing keeps."""
    pixels = np.zeros((28, 28), np.float32)
    pixels[4 + row % 8 : 24, 12:16] = 1.0
    return to_png(pixels)


def folder_of(root: Path, n: int, classes: tuple[str, ...] = ("a", "b")) -> Path:
    for i in range(n):
        folder = root / classes[i % len(classes)]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:04d}.png").write_bytes(stroke(i))
    return root


class Counter:
    """A should_stop that never stops and counts its calls: one per file indexed or read."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return False


def test_a_folder_and_the_same_images_zipped_load_alike_within_the_same_limits(tmp_path):
    folder = folder_of(tmp_path / "digits", 30)
    from_folder = load_folder(folder, limits=ROOMY)
    entries = {path.relative_to(tmp_path).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*.png"))}
    from_zip = load_zip(zip_of(entries), "digits.zip", limits=ROOMY)
    for a, b in zip(from_folder, from_zip):
        assert a.classes == b.classes == ["a", "b"] and np.array_equal(a.images.numpy(), b.images.numpy())
    zipped = tmp_path / "digits.zip"  # the CLI's --dataset takes the zip an app run was trained on
    zipped.write_bytes(zip_of(entries))
    for split in ("train", "test"):
        assert np.array_equal(load_dataset(str(zipped), split).images.numpy(), getattr(from_zip, split).images.numpy())


def test_too_many_files_is_refused_while_indexing_before_any_is_read(tmp_path):
    folder, calls = folder_of(tmp_path / "many", 50), Counter()
    with pytest.raises(DatasetUnavailable) as err:
        load_folder(folder, limits=Limits(10, ROOMY.bytes, ROOMY.pixels, ROOMY.seconds), should_stop=calls)
    assert str(err.value) == f"{folder} holds more than 10 images, the most aelab reads from one folder or zip."
    assert calls.calls <= 13  # the 11th image ends the walk (the two class folders are entries too)
    with pytest.raises(DatasetUnavailable, match="^many.zip holds more than 10 files, the most aelab reads"):
        load_zip(
            zip_of({f"{i}.png": stroke(i) for i in range(11)}),
            "many.zip",
            limits=Limits(10, ROOMY.bytes, ROOMY.pixels, ROOMY.seconds),
        )


def test_too_many_bytes_is_refused_from_the_sizes_before_reading(tmp_path):
    folder = tmp_path / "heavy"
    folder.mkdir()
    padding = bytes(100_000)  # PIL ignores what follows a PNG's end: each file reads fine and weighs 100 KB
    for i in range(40):
        (folder / f"{i:02d}.png").write_bytes(stroke(i) + padding)
    calls = Counter()
    cap = Limits(ROOMY.files, 2**20, ROOMY.pixels, ROOMY.seconds)
    with pytest.raises(DatasetUnavailable) as err:
        load_folder(folder, limits=cap, should_stop=calls)
    assert str(err.value) == f"{folder} holds more than 1 MB of images, the most aelab reads from one folder or zip."
    assert calls.calls == 11  # the 11th file passes 1 MB: nothing was read
    entries = {f"{i:02d}.png": stroke(i) + padding for i in range(40)}
    with pytest.raises(DatasetUnavailable, match=r"^heavy.zip would unpack to 3.8 MB, more than 1 MB, the most aelab"):
        load_zip(zip_of(entries), "heavy.zip", limits=cap)


def test_an_image_with_too_many_pixels_refuses_the_folder_and_names_itself(tmp_path):
    folder = folder_of(tmp_path / "photos", 20, classes=("b",))
    big = io.BytesIO()
    Image.new("L", (200, 100), 255).save(big, format="PNG")
    (folder / "a_big.png").write_bytes(big.getvalue())  # read first: "a_big" sorts before "b/..."
    calls, cap = Counter(), Limits(ROOMY.files, ROOMY.bytes, 10_000, ROOMY.seconds)
    with pytest.raises(DatasetUnavailable) as err:
        load_folder(folder, limits=cap, should_stop=calls)
    assert str(err.value) == (f"a_big.png in {folder}: The image is too large: 200x100 pixels (limit 0.01 megapixels).")
    assert calls.calls == 22 + 1  # 21 files and the folder b indexed, then the first file read
    with pytest.raises(DatasetUnavailable, match=r"^a_big.png in photos.zip: The image is too large: 200x100"):
        load_zip(
            zip_of({"a_big.png": big.getvalue(), "1.png": stroke(1), "2.png": stroke(2)}), "photos.zip", limits=cap
        )


def test_a_load_past_its_time_stops_with_one_line(tmp_path):
    folder = folder_of(tmp_path / "slow", 300, classes=("x",))
    reports = []

    def slow_progress(phase: str, done: int, total: int) -> None:
        reports.append((phase, done, total))
        time.sleep(0.3)  # a slow disk, as seen from the clock

    with pytest.raises(DatasetUnavailable) as err:
        load_folder(folder, limits=Limits(ROOMY.files, ROOMY.bytes, ROOMY.pixels, 0.2), progress=slow_progress)
    assert str(err.value) == f"Reading {folder} took more than 0.2 s, the most aelab spends on one folder or zip."
    assert reports == [(INDEXING, 100, 98)]  # stopped on the next file after the first report


def test_progress_is_reported_while_indexing_and_reading(tmp_path):
    folder = folder_of(tmp_path / "digits", 250, classes=("a",))
    (folder / "notes.txt").write_text("not an image")
    reports = []
    train, test = load_folder(folder, limits=ROOMY, progress=lambda *report: reports.append(report))
    assert len(train) + len(test) == 250
    # the folder's two entries (a/ and notes.txt) are indexed first; each report precedes its file
    assert reports == [
        (INDEXING, 100, 97),
        (INDEXING, 200, 197),
        (INDEXING, 252, 250),
        (READING, 0, 250),
        (READING, 100, 250),
        (READING, 200, 250),
        (READING, 250, 250),
    ]
    zipped = []
    load_zip(
        zip_of({f"{i}.png": stroke(i) for i in range(120)}),
        "z.zip",
        limits=ROOMY,
        progress=lambda *report: zipped.append(report),
    )
    assert zipped == [(INDEXING, 120, 120), (READING, 0, 120), (READING, 100, 120), (READING, 120, 120)]


@pytest.mark.parametrize("stop_in", [INDEXING, READING])
def test_a_stop_request_ends_the_load_in_either_phase(tmp_path, stop_in):
    folder = folder_of(tmp_path / "digits", 250)
    phase = []

    def should_stop() -> bool:
        return phase[-1:] == [stop_in]

    with pytest.raises(LoadStopped, match=f"^Stopped reading {folder}.$") as err:
        load_folder(folder, limits=ROOMY, progress=lambda p, done, total: phase.append(p), should_stop=should_stop)
    assert isinstance(err.value, DatasetUnavailable)  # caught where the pages catch a missing dataset
    with pytest.raises(LoadStopped, match="^Stopped reading z.zip.$"):
        load_zip(zip_of({f"{i}.png": stroke(i) for i in range(120)}), "z.zip", limits=ROOMY, should_stop=lambda: True)


def test_a_linked_folder_inside_is_not_entered(tmp_path):
    outside = folder_of(tmp_path / "outside", 10, classes=("secret",))
    folder = folder_of(tmp_path / "mine", 10)
    (folder / "elsewhere").symlink_to(outside, target_is_directory=True)
    train, test = load_folder(folder, limits=ROOMY)
    assert train.classes == ["a", "b"] and len(train) + len(test) == 10
