"""Disentanglement scores: how one-to-one a model's code dimensions are with known generating factors.

MIG, the Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"),
with disentanglement_lib's conventions so figures compare with the literature: each code dimension
is discretised into BINS equal-width bins over its range, its mutual information (nats) with each
discrete factor is scikit-learn's `mutual_info_score`, and a factor's gap between its two most
informative dimensions is divided by the factor's entropy. MIG is the mean gap: 1 when each factor
is read off one dimension that says nothing of the others, 0 when a factor is spread over two
dimensions alike or none carries it. The (D x K) information matrix also says which factor each
dimension follows (`dimension_factors`).

DCI (Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of Disentangled
Representations"), also as disentanglement_lib computes it: one gradient-boosted classifier per
factor predicts it from the codes; their feature importances form a (D x K) matrix. Disentanglement:
how much each dimension's importance goes to a single factor (weighted by the dimension's share);
completeness: how much each factor's importance comes from a single dimension; informativeness:
the classifiers' accuracy on held-out codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 20  # disentanglement_lib's default for MIG
DCI_TRAIN_FRACTION = 2 / 3  # disentanglement_lib fits on 10,000 codes and tests on 5,000


@dataclass(frozen=True)
class MIG:
    """A MIG score with what it is made of."""

    score: float  # mean of `gaps` over the factors, in [0, 1]
    gaps: np.ndarray  # (K,) per factor: (top - second) mutual information over the factor's entropy
    mi: np.ndarray  # (D, K) mutual information in nats between code dimension d and factor k
    entropy: np.ndarray  # (K,) each factor's entropy in nats

    @property
    def normalised(self) -> np.ndarray:
        """(D, K) mutual information as the fraction of each factor's entropy it explains, in [0, 1]."""
        return self.mi / self.entropy


def _check(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"Codes must be (N, D) with D >= 2 dimensions to compare, not {codes.shape}")
    if not np.issubdtype(codes.dtype, np.number) or not np.isfinite(codes).all():
        raise ValueError("Codes must be finite numbers: some are NaN, infinite or not numbers")
    if factors.ndim != 2 or len(factors) != len(codes) or not factors.shape[1]:
        raise ValueError(f"Factors must be (N, K) with one row per code ({len(codes)}), not {factors.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"Factors must be discrete (integers), not {factors.dtype}")
    constant = [k for k in range(factors.shape[1]) if len(codes) < 2 or (factors[:, k] == factors[0, k]).all()]
    if constant:
        raise ValueError(f"Every factor must take more than one value among the codes; factor(s) {constant} do not")
    return codes.astype(np.float64), factors


def discretise(codes: np.ndarray, bins: int = BINS) -> np.ndarray:
    """(N, D) bin numbers 1..bins: each dimension cut into `bins` equal widths over its own range."""
    codes = np.asarray(codes, dtype=np.float64)
    return np.stack([np.digitize(c, np.histogram_bin_edges(c, bins)[:-1]) for c in codes.T], 1)


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = BINS) -> MIG:
    """The Mutual Information Gap of `codes` (N, D), e.g. posterior means, against discrete `factors` (N, K).
    ValueError for fewer than two dimensions, non-finite codes, or a factor that never varies."""
    # scikit-learn's metrics are slow to import: only pages and commands that score pay for it.
    from sklearn.metrics import mutual_info_score

    codes, factors = _check(codes, factors)
    binned = discretise(codes, bins)
    mi = np.array([[mutual_info_score(factor, dim) for factor in factors.T] for dim in binned.T])
    entropy = np.array([mutual_info_score(factor, factor) for factor in factors.T])
    top_two = np.sort(mi, axis=0)[-2:]
    gaps = (top_two[1] - top_two[0]) / entropy
    return MIG(float(gaps.mean()), gaps, mi, entropy)


def dimension_factors(normalised: np.ndarray) -> list[tuple[int, float]]:
    """Per code dimension, the factor it follows most and how much of that factor's entropy it explains:
    [(factor index, fraction in [0, 1])], from a (D, K) matrix such as `MIG.normalised`. A dimension that
    follows nothing (a collapsed one) gets fraction 0: read its factor only with a fraction worth showing."""
    normalised = np.asarray(normalised)
    if normalised.ndim != 2 or not normalised.size:
        raise ValueError(f"Expected a (D, K) information matrix, not shape {normalised.shape}")
    best = normalised.argmax(1)
    return [(int(k), float(normalised[d, k])) for d, k in enumerate(best)]


def top_factors(normalised: np.ndarray, n: int = 2) -> list[list[tuple[int, float]]]:
    """Per code dimension, the `n` factors it carries most of, most first: [[(factor index, fraction)]], from a
    (D, K) matrix such as `MIG.normalised`. A row that changes colour and shape as well as position shows as
    x first with colour close behind, where the top factor alone would read as x only."""
    normalised = np.asarray(normalised)
    if normalised.ndim != 2 or not normalised.size:
        raise ValueError(f"Expected a (D, K) information matrix, not shape {normalised.shape}")
    order = np.argsort(-normalised, axis=1, kind="stable")[:, :n]
    return [[(int(k), float(normalised[d, k])) for k in row] for d, row in enumerate(order)]


@dataclass(frozen=True)
class DCI:
    """DCI scores, each in [0, 1], with the importance matrix they come from."""

    disentanglement: float
    completeness: float
    informativeness: float  # mean over factors of the held-out accuracy
    importance: np.ndarray  # (D, K) how much dimension d serves the classifier of factor k


def dci(codes: np.ndarray, factors: np.ndarray, train_fraction: float = DCI_TRAIN_FRACTION, seed: int = 0) -> DCI:
    """DCI of `codes` (N, D) against discrete `factors` (N, K): classifiers fit on a seeded `train_fraction`
    of the rows and are scored on the rest. Same ValueErrors as `mig`, and for a split that leaves a side empty."""
    # scikit-learn and scipy take seconds to import: only pages and commands that score pay for it.
    from scipy.stats import entropy
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    codes, factors = _check(codes, factors)
    if not 0 < train_fraction < 1 or min(train_fraction, 1 - train_fraction) * len(codes) < 1:
        raise ValueError(
            f"DCI needs codes both to fit and to test: {len(codes)} codes, train fraction {train_fraction}"
        )
    x_train, x_test, y_train, y_test = train_test_split(codes, factors, train_size=train_fraction, random_state=seed)
    importance, accuracy = np.zeros((codes.shape[1], factors.shape[1])), []
    for k in range(factors.shape[1]):
        model = GradientBoostingClassifier(random_state=seed).fit(x_train, y_train[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
        accuracy.append(float((model.predict(x_test) == y_test[:, k]).mean()))
    # A dimension or factor with no importance at all counts as spread evenly (the epsilon), with no weight.
    per_dimension = 1 - entropy(importance.T + 1e-11, base=importance.shape[1])
    per_factor = 1 - entropy(importance + 1e-11, base=importance.shape[0])
    total = importance.sum() or 1.0
    return DCI(
        float(per_dimension @ importance.sum(1) / total),
        float(per_factor @ importance.sum(0) / total),
        float(np.mean(accuracy)),
        importance,
    )
