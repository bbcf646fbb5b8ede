"""The anomaly score in words: the sentence the Reconstruct and Anomaly pages show."""

import numpy as np

from aelab.anomaly import score_sentence

REFERENCE = np.arange(100) / 1000  # 0.000, 0.001, ..., 0.099


def test_sentence_gives_error_rank_and_verdict() -> None:
    assert score_sentence(0.0975, REFERENCE, "MNIST test") == (
        "error 0.0975 — higher than 98% of MNIST test images: unusual for this model")
    assert score_sentence(0.0505, REFERENCE, "MNIST test") == (
        "error 0.0505 — higher than 51% of MNIST test images: typical for this model")
    assert score_sentence(0.0995, REFERENCE, "Fashion-MNIST test") == (
        "error 0.0995 — higher than every Fashion-MNIST test image: very unusual for this model")


def test_extremes_are_never_rounded_into_untruths() -> None:
    assert score_sentence(0.0, REFERENCE, "MNIST test") == (
        "error 0 — no higher than any MNIST test image: typical for this model")
    many = np.linspace(0, 1, 1000)
    assert "higher than under 1% of MNIST test images" in score_sentence(0.001, many, "MNIST test")
    almost = score_sentence(0.9995, many, "MNIST test")
    assert "higher than 99% of" in almost and almost.endswith("very unusual for this model")
