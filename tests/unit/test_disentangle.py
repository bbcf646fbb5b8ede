"""MIG: 1 for one dimension per factor, 0 for shared or missing factors, blind to order and units of dimensions."""

from __future__ import annotations

import re

import numpy as np
import pytest

from aelab.data.shapes import FACTOR_NAMES, FACTORS, make_shapes, sample_factors
from aelab.explore.disentangle import BINS, DCI, MIG, dci, dimension_factors, discretise, mig

N = 5_000


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    """Shapes' own factors (6 of them, 4 to 10 values each), uniformly drawn."""
    return sample_factors(N, seed=0)


def noisy(values: np.ndarray, seed: int, level: float = 0.05) -> np.ndarray:
    return values + np.random.default_rng(seed).normal(0, level, values.shape)


def test_codes_that_are_the_factors_score_close_to_one(factors: np.ndarray) -> None:
    result = mig(noisy(factors.astype(float), 0), factors)
    assert isinstance(result, MIG)
    assert result.score > 0.95 and result.gaps.min() > 0.95
    assert result.mi.shape == (6, 6) and result.entropy.shape == (6,)
    assert np.allclose(result.entropy, np.log([f.size for f in FACTORS]), atol=0.01)  # uniform factors
    assert np.allclose(np.diag(result.normalised), 1, atol=0.02)


def test_a_factor_shared_equally_by_two_dimensions_scores_near_zero(factors: np.ndarray) -> None:
    twice = np.repeat(factors.astype(float), 2, axis=1)  # dimensions 2k and 2k+1 both carry factor k
    result = mig(noisy(twice, 1), factors)
    assert result.score < 0.03
    assert np.allclose(result.normalised[::2], result.normalised[1::2], atol=0.03)


def test_random_codes_score_near_zero(factors: np.ndarray) -> None:
    result = mig(np.random.default_rng(2).normal(size=(N, 10)), factors)
    assert result.score < 0.03 and result.normalised.max() < 0.05


def test_a_coarser_second_dimension_takes_its_share_of_the_gap(factors: np.ndarray) -> None:
    """x in one dimension and x // 2 in another: the gap is H(x) - H(x // 2) = ln 8 - ln 4 over ln 8."""
    x, y = factors[:, FACTOR_NAMES.index("x")], factors[:, FACTOR_NAMES.index("y")]
    codes = np.stack([x, x // 2, y], 1).astype(float)
    result = mig(codes, np.stack([x, y], 1))
    assert result.gaps == pytest.approx([1 / 3, 1.0], abs=0.01)
    assert result.score == pytest.approx(2 / 3, abs=0.01)


def test_order_and_units_of_dimensions_do_not_matter(factors: np.ndarray) -> None:
    codes = noisy(np.concatenate([factors, factors[:, :2] // 2], 1).astype(float), 3, level=0.3)
    order = np.random.default_rng(4).permutation(codes.shape[1])
    first, permuted, rescaled = mig(codes, factors), mig(codes[:, order], factors), mig(codes * -7.5 + 3, factors)
    assert permuted.score == first.score and np.array_equal(permuted.gaps, first.gaps)
    assert np.array_equal(permuted.mi, first.mi[order])
    assert rescaled.score == pytest.approx(first.score, abs=1e-12)


def test_each_dimension_names_the_factor_it_follows(factors: np.ndarray) -> None:
    order = np.array([3, 0, 5, 1, 4, 2])
    collapsed = np.zeros((N, 1))  # a dimension the model stopped using follows nothing
    codes = np.concatenate([noisy(factors[:, order].astype(float), 5), collapsed], 1)
    follows = dimension_factors(mig(codes, factors).normalised)
    assert [k for k, _ in follows[:6]] == list(order)
    assert min(share for _, share in follows[:6]) > 0.95
    assert follows[6][1] == 0.0


def test_rendered_shapes_centre_of_mass_follows_x_and_y() -> None:
    """Codes measured from the pixels: the centre of mass's column and row are the x and y factors."""
    images, factors = make_shapes(3000, seed=6, side=28, channels=1)
    mass = images[:, 0]
    rows, cols = np.mgrid[:28, :28]
    total = mass.sum((1, 2))
    codes = np.stack([(mass * cols).sum((1, 2)) / total, (mass * rows).sum((1, 2)) / total], 1)
    result = mig(codes, factors)
    follows = dimension_factors(result.normalised)
    assert [FACTOR_NAMES[k] for k, _ in follows] == ["x", "y"]
    assert min(share for _, share in follows) > 0.8


def test_discretise_cuts_each_dimension_into_equal_bins() -> None:
    codes = np.stack([np.linspace(0, 1, 200), np.linspace(-50, 50, 200) ** 3], 1)
    binned = discretise(codes)
    assert binned.min() == 1 and binned.max() == BINS
    assert np.array_equal(np.bincount(binned[:, 0])[1:], np.full(BINS, 10))
    assert (discretise(np.ones((5, 2))) == discretise(np.ones((5, 2)))[0]).all()  # a collapsed dimension: one bin


@pytest.mark.parametrize(
    "codes, factors, words",
    [
        (np.zeros((10, 1)), np.arange(10)[:, None], "D >= 2"),
        (np.full((10, 2), np.nan), np.arange(10)[:, None], "finite"),
        (np.zeros((10, 2)), np.arange(9)[:, None], "one row per code (10)"),
        (np.zeros((10, 2)), np.linspace(0, 1, 10)[:, None], "discrete"),
        (np.zeros((10, 2)), np.stack([np.arange(10), np.zeros(10, int)], 1), "factor(s) [1] do not"),
        (np.zeros((1, 2)), np.zeros((1, 1), int), "factor(s) [0] do not"),
        (np.zeros((0, 2)), np.zeros((0, 1), int), "factor(s) [0] do not"),
        (np.zeros((10, 2)), np.zeros((10, 0), int), "one row per code"),
    ],
)
def test_bad_input_gets_one_clear_value_error(codes: np.ndarray, factors: np.ndarray, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        mig(codes, factors)


def test_dimension_factors_needs_a_matrix() -> None:
    with pytest.raises(ValueError, match="information matrix"):
        dimension_factors(np.zeros(3))


def test_dci_is_high_for_one_dimension_per_factor_and_low_for_mixed_ones(factors: np.ndarray) -> None:
    """Two factors (shape, x) on 300 codes, read off one dimension each beside a noise dimension, then
    mixed: x + shape and x - shape need both dimensions for either factor."""
    two = factors[:300][:, [FACTOR_NAMES.index("shape"), FACTOR_NAMES.index("x")]]
    noise = np.random.default_rng(7).normal(size=(300, 1))
    separate = dci(np.concatenate([noisy(two.astype(float), 8), noise], 1), two)
    assert isinstance(separate, DCI) and separate.importance.shape == (3, 2)
    assert separate.disentanglement > 0.9 and separate.completeness > 0.9 and separate.informativeness > 0.95
    assert separate.importance[2].sum() < 0.05  # the noise dimension serves no classifier
    mixed = dci(np.stack([two[:, 1] + two[:, 0], two[:, 1] - two[:, 0]], 1).astype(float), two)
    assert mixed.disentanglement < 0.5 and mixed.completeness < 0.5
    assert mixed.informativeness > 0.9  # the information is all there, only not one factor per dimension


def test_dci_needs_codes_on_both_sides_of_its_split() -> None:
    with pytest.raises(ValueError, match="both to fit and to test"):
        dci(np.zeros((10, 2)), np.arange(10)[:, None] % 2, train_fraction=1.0)


def test_top_factors_and_what_the_slider_says(factors: np.ndarray) -> None:
    """Issue #26: a dimension carrying two factors alike must not read as following one alone."""
    from aelab.explore.disentangle import top_factors
    from aelab.ui.text import follows

    first, other = factors[:, 0].astype(float), factors[:, 1].astype(float)
    pure = noisy(np.stack([first, other], 1), 5)  # dimension 0 follows factor 0, dimension 1 factor 1
    codes = np.concatenate([pure, (first / 3 + other / 5)[:, None], np.zeros((N, 1))], 1)  # 2: mixed, 3: collapsed
    top = top_factors(mig(codes, factors).normalised)
    assert [k for k, _ in top[0]][:1] == [0] and [k for k, _ in top[1]][:1] == [1]
    assert all(len(row) == 2 and row[0][1] >= row[1][1] for row in top)
    assert {k for k, _ in top[2]} == {0, 1}  # the mixed dimension carries both
    named = [[(FACTOR_NAMES[k], share) for k, share in row] for row in top]
    assert follows(named[0]).startswith(f"follows {FACTOR_NAMES[0]} (")
    assert follows(named[2]).startswith("mixes ")
    assert follows(named[3]) == "follows no factor well"
