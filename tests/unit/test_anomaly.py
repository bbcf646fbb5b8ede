"""aelab.explore.anomaly: the score sentence the Reconstruct and Anomaly pages show, and, on the shipped VAE and the
real MNIST files, scores, ranks, heatmaps and a real one-class run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aelab.explore import anomaly
from aelab.explore.anomaly import score_sentence
from aelab.settings import SHIPPED_DIR
from aelab.store.checkpoints import load_checkpoint
from aelab.training import one_class

VAE = SHIPPED_DIR / "vae.safetensors"
REFERENCE = np.arange(100) / 1000  # 0.000, 0.001, ..., 0.099


def test_sentence_gives_score_rank_and_graded_verdict() -> None:
    assert anomaly.threshold_at(REFERENCE) == pytest.approx(0.09801)  # the 99th percentile
    assert score_sentence(0.0975, REFERENCE, "MNIST test") == (
        "score 0.0975 — higher than 98% of MNIST test images: **unusual** (flagged above 0.098)"
    )
    assert score_sentence(0.0505, REFERENCE, "MNIST test") == (
        "score 0.0505 — higher than 51% of MNIST test images: **typical** (flagged above 0.098)"
    )
    assert score_sentence(0.0995, REFERENCE, "Fashion-MNIST test") == (
        "score 0.0995 — higher than every Fashion-MNIST test image: **flagged** (flagged above 0.098)"
    )
    assert anomaly.verdict(0.0935, REFERENCE) == "typical"  # 94 of the 100 are lower, under the 95th percentile
    assert anomaly.verdict(0.0955, REFERENCE) == "unusual"


def test_verdict_is_the_anomaly_pages_threshold() -> None:
    """Flagged exactly when error > threshold, the rule the Anomaly page applies, whatever threshold it is set to."""
    assert score_sentence(0.0505, REFERENCE, "MNIST test", threshold=0.05).endswith("**flagged** (flagged above 0.05)")
    assert score_sentence(0.05, REFERENCE, "MNIST test", threshold=0.05).endswith("**typical** (flagged above 0.05)")
    errors = np.random.default_rng(0).gamma(2.0, 0.01, 2000)
    for threshold in (None, 0.01, float(np.median(errors))):
        limit = anomaly.threshold_at(errors) if threshold is None else threshold
        for error in errors[:200]:
            flagged = "**flagged**" in score_sentence(float(error), errors, "MNIST test", threshold)
            assert flagged == (error > limit), (error, limit)
    assert (errors > anomaly.threshold_at(errors)).mean() == pytest.approx(1 - anomaly.DEFAULT_PERCENTILE / 100)


def test_extremes_are_never_rounded_into_untruths() -> None:
    assert score_sentence(0.0, REFERENCE, "MNIST test") == (
        "score 0 — no higher than any MNIST test image: **typical** (flagged above 0.098)"
    )
    many = np.linspace(0, 1, 1000)
    assert "higher than under 1% of MNIST test images" in score_sentence(0.001, many, "MNIST test")
    almost = score_sentence(0.9995, many, "MNIST test")
    assert "higher than 99% of" in almost and "**flagged**" in almost


@pytest.fixture(scope="module")
def vae():
    assert VAE.is_file(), f"{VAE} is missing: train it with checkpoints/train_all.sh"
    return load_checkpoint(VAE).model


@pytest.fixture(scope="module")
def test_errors(vae, mnist_test) -> np.ndarray:
    return anomaly.reconstruction_errors(vae, mnist_test.images)


def test_reconstruction_errors_are_per_image_mean_squared_errors(vae, mnist_test, test_errors):
    x = mnist_test.images[:7]
    with torch.no_grad():
        expected = (torch.sigmoid(vae.reconstruct(x)) - x).pow(2).mean(dim=(1, 2, 3)).numpy()
    assert test_errors.shape == (len(mnist_test),)
    np.testing.assert_allclose(test_errors[:7], expected, rtol=1e-5)
    np.testing.assert_allclose(anomaly.anomaly_scores(vae, x, "mse"), expected, rtol=1e-5)
    # small batches give the same numbers as one big batch
    np.testing.assert_allclose(anomaly.reconstruction_errors(vae, x, batch_size=3), expected, rtol=1e-5)


def test_random_noise_is_more_anomalous_than_almost_every_digit(vae, test_errors):
    noise = torch.rand((3, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    noise_errors = anomaly.reconstruction_errors(vae, noise)
    assert (anomaly.percentile_of(noise_errors, test_errors) >= 99.9).all()
    assert all("**flagged**" in score_sentence(float(e), test_errors, "MNIST test") for e in noise_errors)
    assert (test_errors > anomaly.threshold_at(test_errors)).mean() == pytest.approx(0.01, abs=1e-4)


def test_percentile_of_known_reference():
    reference = np.arange(100.0)[::-1]  # order must not matter
    assert anomaly.percentile_of(50.0, reference) == 50.0
    assert anomaly.percentile_of(50.5, reference) == 51.0
    assert anomaly.percentile_of(-1.0, reference) == 0.0
    assert anomaly.percentile_of(1e9, reference) == 100.0
    np.testing.assert_array_equal(anomaly.percentile_of(np.array([0.0, 99.0, 99.5]), reference), [0.0, 99.0, 100.0])


def test_auroc_on_known_inputs():
    assert anomaly.auroc(np.array([0.1, 0.2, 0.3]), np.array([0.4, 0.5])) == 1.0
    assert anomaly.auroc(np.array([0.4, 0.5]), np.array([0.1, 0.2, 0.3])) == 0.0
    assert anomaly.auroc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    # 3 of the 4 (normal, anomalous) pairs ranked right
    assert anomaly.auroc(np.array([0.1, 0.3]), np.array([0.2, 0.4])) == 0.75


def test_heatmap_shape_range_and_colour_order():
    error = np.outer(np.linspace(0, 1, 28), np.ones(28)) * 0.2  # rows from no error to the largest
    rgb = anomaly.heatmap(error)
    assert rgb.shape == (28, 28, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    brightness = rgb.mean(axis=(1, 2))
    assert np.all(np.diff(brightness) > 0)  # more error, lighter colour
    np.testing.assert_allclose(rgb[0, 0], [0, 0, 4 / 255], atol=1e-6)  # inferno's darkest
    np.testing.assert_allclose(rgb[-1, 0], [252 / 255, 1.0, 164 / 255], atol=1e-6)  # and lightest
    # a shared vmax twice the map's maximum puts the largest error halfway up the scale
    assert anomaly.heatmap(error, vmax=0.4)[-1, 0].mean() < rgb[-1, 0].mean()
    np.testing.assert_allclose(anomaly.heatmap(error, vmax=0.4)[-1], anomaly.heatmap(error * 2, vmax=0.8)[-1])
    assert np.all(anomaly.heatmap(np.zeros((5, 4))) == anomaly.heatmap(np.zeros((5, 4)))[0, 0])  # no error: one colour
    with pytest.raises(ValueError):
        anomaly.heatmap(np.zeros((2, 28, 28)))


def test_scores_refuse_unknown_names_and_missing_reference(vae, mnist_test):
    with pytest.raises(ValueError, match="Unknown score"):
        anomaly.anomaly_scores(vae, mnist_test.images[:2], "psnr")
    with pytest.raises(ValueError, match="reference"):
        anomaly.anomaly_scores(vae, mnist_test.images[:2], "ink_corrected")


def test_ink_scores_do_not_favour_thin_digits(vae, mnist_test):
    """Plain MSE calls a thin '1' more normal than a heavy '0'; the ink-aware scores correct for that."""
    ones = mnist_test.images[mnist_test.labels == 1][:300]
    zeros = mnist_test.images[mnist_test.labels == 0][:300]
    mse_gap = np.median(anomaly.anomaly_scores(vae, zeros, "mse")) / np.median(anomaly.anomaly_scores(vae, ones, "mse"))
    per_ink_gap = np.median(anomaly.anomaly_scores(vae, zeros, "mse_per_ink")) / np.median(
        anomaly.anomaly_scores(vae, ones, "mse_per_ink")
    )
    assert mse_gap > 2.0 and per_ink_gap < mse_gap / 2


def test_one_class_experiment_flags_digits_it_never_saw(mnist_train, mnist_test):
    seen = []
    result = one_class.one_class_experiment(
        "vae", mnist_train, mnist_test, held_out=0, mode="one_only", epochs=5, progress=seen.append
    )
    n_zeros = int((mnist_test.labels == 0).sum())
    assert result.train_images == int((mnist_train.labels == 0).sum())
    assert (len(result.normal_scores), len(result.anomalous_scores)) == (n_zeros, len(mnist_test) - n_zeros)
    assert result.score == one_class.BEST_SCORE["one_only"] and result.auroc == result.aurocs[result.score]
    assert set(result.aurocs) == {*anomaly.SCORES, anomaly.TYPICALITY_SCORE}
    assert result.aurocs[anomaly.TYPICALITY_SCORE] > 0.6, result.aurocs  # the app's verdict score, measured too
    assert result.auroc > 0.8, result.aurocs  # chance is 0.5
    assert result.auroc == pytest.approx(anomaly.auroc(result.normal_scores, result.anomalous_scores))
    assert result.fpr[0] == 0 and result.tpr[-1] == 1 and np.all(np.diff(result.fpr) >= 0)
    assert result.epochs == 5 and seen and seen[-1] == pytest.approx(1.0) and np.all(np.diff(seen) > 0)


def test_one_class_experiment_refuses_impossible_settings(mnist_train, mnist_test):
    with pytest.raises(ValueError, match="mode"):
        one_class.one_class_experiment("vae", mnist_train, mnist_test, 0, mode="two_only")
    with pytest.raises(ValueError, match="Unknown score"):
        one_class.one_class_experiment("vae", mnist_train, mnist_test, 0, score="psnr")
    with pytest.raises(ValueError, match="cannot be held out"):
        one_class.one_class_experiment("vae", mnist_train, mnist_test, 42)
