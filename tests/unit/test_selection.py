"""What a box or lasso on the map summarises."""

import numpy as np
import pytest

from aelab.data.dataset import UNLABELLED
from aelab.data.registry import load_dataset
from aelab.explore import selection


def test_a_selection_counts_its_labels_and_means_its_images_and_codes():
    test = load_dataset("mnist", "test", download=False)
    pictures, labels = test.images.numpy()[:, 0], test.labels.numpy().copy()
    labels[5] = UNLABELLED
    mu = np.random.default_rng(0).normal(size=(len(labels), 4)).astype(np.float32)
    rows = selection.selected_rows(np.array([9, 5, 1, 2, 2, 3]))
    summary = selection.summarise(rows, pictures[rows], labels, test.classes, mu)
    np.testing.assert_array_equal(summary.rows, [1, 2, 3, 5, 9])  # each row once, in order
    names = [test.classes[labels[r]] if labels[r] >= 0 else "unlabelled" for r in summary.rows]
    assert summary.counts == {
        name: names.count(name) for name in sorted(set(names), key=lambda n: (-names.count(n), n))
    }
    assert list(summary.counts.values()) == sorted(summary.counts.values(), reverse=True)
    np.testing.assert_allclose(summary.mean_image, pictures[[1, 2, 3, 5, 9]].mean(0))
    np.testing.assert_allclose(summary.mean_code, mu[[1, 2, 3, 5, 9]].mean(0))
    with pytest.raises(ValueError, match="empty"):
        selection.selected_rows(np.array([], dtype=int))


def test_the_gallery_puts_each_row_of_originals_above_its_reconstructions():
    originals = np.stack([np.full((4, 4), i / 20, np.float32) for i in range(11)])
    recons = 1.0 - originals
    grid = selection.gallery(originals, recons, ncol=4)
    pad, side = 2, 4

    def tile(r: int, c: int) -> np.ndarray:
        rows, cols = pad + r * (side + pad), pad + c * (side + pad)
        return grid[rows : rows + side, cols : cols + side]

    assert grid.shape == (pad + 6 * (side + pad), pad + 4 * (side + pad))  # 3 rows of originals, 3 of reconstructions
    np.testing.assert_array_equal(tile(0, 1), originals[1])
    np.testing.assert_array_equal(tile(1, 1), recons[1])
    np.testing.assert_array_equal(tile(4, 2), originals[10])
    np.testing.assert_array_equal(tile(5, 2), recons[10])
    np.testing.assert_array_equal(tile(4, 3), 0.0)  # the last row's empty places stay blank
    shown = selection.spread_rows(np.arange(100, 1100), selection.GALLERY)
    assert len(shown) == selection.GALLERY and np.all(np.diff(shown) > 0) and shown.min() >= 100
    np.testing.assert_array_equal(selection.spread_rows(np.arange(5), selection.GALLERY), np.arange(5))
