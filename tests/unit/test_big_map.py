"""The map at scale, in small: a folder streamed from its files and encoded batch by batch (progress, Stop, the
same codes as its images in memory, kept in the disk cache), and t-SNE through openTSNE's FFT gradient."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from folders import write_digits

from aelab.data.dataset import DatasetUnavailable
from aelab.data.folders import load_folder
from aelab.data.streaming import ImageFiles
from aelab.explore import encoding, neighbours, projections
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint


@pytest.fixture(scope="module")
def digits(mnist_test, tmp_path_factory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits"), mnist_test, 2000)


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(SHIPPED_DIR / "vae.safetensors").model


def test_a_streamed_folder_is_encoded_batch_by_batch_to_the_codes_of_its_images_in_memory(digits, model):
    streamed, memory = load_folder(digits, 0.5, stream=True, workers=1).test, load_folder(digits, 0.5).test
    assert isinstance(streamed.images, ImageFiles) and len(streamed) == 1000
    seen: list[float] = []
    codes = encoding.encode_all(model, streamed.images, batch_size=256, progress=seen.append)
    same = encoding.encode_all(model, memory.images)
    assert seen == [256 / 1000, 512 / 1000, 768 / 1000, 1.0]
    # The same pixels through the same network: only batch sizes differ (500 against 256), which changes how
    # BLAS sums on some CPUs, by float32 rounding; a wrong image or order would move codes by whole units.
    np.testing.assert_allclose(codes.mu, same.mu, rtol=0, atol=1e-4)
    np.testing.assert_allclose(codes.logvar, same.logvar, rtol=0, atol=1e-4)


def test_stop_ends_an_encoding_between_batches_and_keeps_nothing(digits, model, settings, tmp_path):
    streamed = load_folder(digits, 0.5, stream=True, workers=1).test
    seen: list[float] = []
    with settings(cache_dir=tmp_path):
        with pytest.raises(encoding.EncodingStopped, match="after 512 of 1000"):
            encoding.cached_codes(
                "k",
                lambda: encoding.encode_all(
                    model, streamed.images, batch_size=256, progress=seen.append, should_stop=lambda: len(seen) == 2
                ),
            )
        assert seen == [0.256, 0.512] and not encoding.stored_codes("k")


def test_codes_are_kept_on_disk_and_read_back_without_encoding(mnist_test, model, settings, tmp_path):
    encoded: list[int] = []

    def compute() -> encoding.Codes:
        encoded.append(1)
        return encoding.encode_all(model, mnist_test.images[:3000])

    with settings(cache_dir=tmp_path):
        assert not encoding.stored_codes("k")
        first = encoding.cached_codes("k", compute)
        assert encoding.stored_codes("k")
        again = encoding.cached_codes("k", compute)
    assert encoded == [1] and np.array_equal(first.mu, again.mu) and len(first.mu) == 3000


def test_tsne_from_fft_points_on_uses_the_fft_gradient_with_progress_and_keeps_the_classes_apart(
    mnist_test, model, monkeypatch
):
    mu = encoding.encode_all(model, mnist_test.images[:1000]).mu
    labels = mnist_test.labels[:1000].numpy()
    monkeypatch.setattr(projections, "FFT_POINTS", 1000)  # the switch met at a test's size
    seen: list[float] = []
    found = projections.tsne(mu, n_points=1000, perplexity=20, progress=seen.append)
    assert found.params["gradient"] == "fft" and len(found.coords) == 1000 and np.array_equal(found.index, range(1000))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    # Each point's 10 nearest on the map mostly share its digit
    near = neighbours.neighbour_table(found.coords, 10)
    assert (labels[near] == labels[:, None]).mean() > 0.8


def test_a_streams_rows_are_read_from_their_files_as_the_folder_in_memory_holds_them(digits, tmp_path):
    streamed, memory = load_folder(digits, 0.5, stream=True, workers=1).test, load_folder(digits, 0.5).test
    rows = [999, 3, 500, 3]  # any order, repeats allowed: the map's nearest codes
    assert torch.equal(streamed.rows(rows), memory.rows(rows))  # the same files through the same decoding
    gone = shutil.copytree(digits, tmp_path / "gone")
    files = load_folder(gone, 0.5, stream=True, workers=1).test
    name = files.images.source.names[files.images.ids[500]].decode()
    (gone / name).unlink()
    with pytest.raises(DatasetUnavailable, match=f"{name} in gone can no longer be read"):
        files.rows([500])
