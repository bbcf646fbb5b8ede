"""Photos of digits on paper reach the model as those digits, and MNIST-style uploads stay as they were.

The photo-like pictures come from aelab.data.photos (the machine's fonts on lit, shadowed, textured
paper, blue ink, a ballpoint line, a chalkboard, JPEG); the model is the shipped MLP VAE and the reference the
real MNIST test codes. bench/photo_uploads.py prints the same figures for more models.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aelab.data import photos
from aelab.explore.encoding import encode_all
from aelab.images import recipe, render
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint

VAE = SHIPPED_DIR / "vae.safetensors"
QUERIES = 300  # MNIST test digits uploaded as files; the other test images are the reference


@pytest.fixture(scope="module")
def photo_set() -> list[photos.Photo]:
    return photos.photo_set()


@pytest.fixture(scope="module")
def probe(mnist_test):
    """Accuracy of the 10-nearest-test-codes vote for (N, 28, 28) model inputs."""
    assert VAE.is_file(), f"{VAE} is missing: train it with checkpoints/train_all.sh"
    model = load_checkpoint(VAE).model
    reference = mnist_test.subset(range(QUERIES, len(mnist_test)))
    codes, labels = encode_all(model, reference.images).mu, reference.labels.numpy()

    def accuracy(pictures: np.ndarray, truth: np.ndarray) -> float:
        return photos.vote_accuracy(codes, labels, encode_all(model, render.to_tensor(pictures)).mu, truth)

    return accuracy


def prepared(files: list[bytes]) -> np.ndarray:
    return np.stack([recipe.preprocess_bytes(data, "upload").image for data in files])


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_photo_set_is_deterministic_and_photo_like(photo_set) -> None:
    assert len(photo_set) == 70 and len({p.font for p in photo_set}) == len(photos.FONTS)
    assert {(p.digit, p.condition) for p in photo_set} == {(d, c) for d in range(10) for c in photos.CONDITIONS}
    again = photos.photo_set(digits=(3, 8))
    assert [(p.data, p.clean) for p in again] == [(p.data, p.clean) for p in photo_set if p.digit in (3, 8)]
    assert photos.photo_set(seed=1, digits=(3,))[0].data != again[0].data
    for p in photo_set:
        photo, clean = Image.open(io.BytesIO(p.data)), Image.open(io.BytesIO(p.clean))
        assert (photo.format, photo.mode, clean.format) == ("JPEG", "RGB", "PNG")
        gray = np.asarray(photo.convert("L"), dtype=float)
        if p.condition == "chalkboard":  # light chalk on a dark board
            assert np.median(gray) < 80
        else:  # dark ink on paper in room light: grey and grainy, never the flat white of a drawing
            paper = gray[gray > np.median(gray)]
            assert 100 < np.median(gray) < 220 and paper.std() > 3
    with pytest.raises(ValueError, match="Unknown condition"):
        photos.photo_set(conditions=("fog",))


def test_photos_are_read_nearly_as_well_as_clean_renders(photo_set, probe) -> None:
    labels = np.array([p.digit for p in photo_set])
    photo_accuracy = probe(prepared([p.data for p in photo_set]), labels)
    clean_accuracy = probe(prepared([p.clean for p in photo_set]), labels)
    assert clean_accuracy >= 0.5, clean_accuracy  # printed digits are not handwriting, but mostly read
    assert photo_accuracy >= 0.9 * clean_accuracy, (photo_accuracy, clean_accuracy)


def test_mnist_uploads_keep_their_digit(mnist_test, probe) -> None:
    """Real test digits as files, as stored and as a person draws them, come back as the digits they were."""
    digits = np.round(mnist_test.images[:QUERIES, 0].numpy() * 255).astype(np.uint8)
    labels = mnist_test.labels[:QUERIES].numpy()
    stored = prepared([png(d) for d in digits])
    drawn = prepared(
        [png(np.asarray(Image.fromarray(255 - d).resize((112, 112), Image.Resampling.BILINEAR))) for d in digits]
    )
    themselves = probe(digits / 255.0, labels)
    assert np.abs(stored - digits / 255.0).mean() < 0.005
    assert probe(stored, labels) >= themselves - 0.01
    assert probe(drawn, labels) >= themselves - 0.02
