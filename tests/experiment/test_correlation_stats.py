"""`segnas experiment correlation`: Spearman's rho with bootstrap intervals, and reward bands.

Pure functions: checked against scipy and numpy on hand-made figures.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from segnas.experiment.correlation_bands import BANDS, band_edges, band_of, sample_bands
from segnas.experiment.correlation_stats import (
    complete_pairs,
    correlate,
    spearman,
    spearman_ci,
)

# --------------------------------------------------------------------------- spearman

X = [0.31, 0.12, 0.55, 0.47, 0.09, 0.62, 0.28, 0.40]
Y = [0.35, 0.20, 0.50, 0.52, 0.11, 0.58, 0.18, 0.45]


def test_spearman_equals_scipy() -> None:
    rho, p = spearman(X, Y)
    expected = sps.spearmanr(X, Y)
    assert rho == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)


def test_spearman_with_ties_equals_scipy() -> None:
    x = [1, 2, 2, 3, 4, 4, 4, 5]
    y = [2.0, 1.0, 3.0, 3.0, 5.0, 4.0, 4.0, 6.0]
    rho, p = spearman(x, y)
    expected = sps.spearmanr(x, y)
    assert rho == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)


def test_spearman_is_undefined_for_few_pairs_or_a_constant_side() -> None:
    assert spearman([0.1, 0.2], [0.3, 0.4]) == (None, None)
    assert spearman([], []) == (None, None)
    assert spearman([0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4]) == (None, None)
    assert spearman([0.1, 0.2, 0.3, 0.4], [1.0, 1.0, 1.0, 1.0]) == (None, None)
    # two complete pairs once the missing ones are dropped: undefined
    assert spearman([0.1, None, 0.2, 0.3], [0.3, 0.4, float("nan"), 0.1]) == (None, None)
    # three complete pairs: defined
    rho, _ = spearman([0.1, None, 0.2, 0.3, 0.4], [0.1, 0.9, 0.2, 0.3, float("nan")])
    assert rho == pytest.approx(1.0)


def test_complete_pairs_drops_missing_and_nan_and_checks_lengths() -> None:
    a, b = complete_pairs(
        [0.1, None, 0.3, float("nan"), 0.5, 0.6], [1.0, 2.0, None, 4.0, float("inf"), 6.0]
    )
    assert a.tolist() == [0.1, 0.6] and b.tolist() == [1.0, 6.0]
    assert a.dtype == float and b.dtype == float
    with pytest.raises(ValueError, match=r"got 3 and 2 values"):
        complete_pairs([1, 2, 3], [1, 2])


def test_spearman_ignores_missing_pairs() -> None:
    x = [*X, None, 0.7]
    y = [*Y, 0.9, float("nan")]
    assert spearman(x, y) == pytest.approx(spearman(X, Y))


# --------------------------------------------------------------------------- interval


def _sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.6 * x + rng.normal(scale=0.8, size=n)
    return x, y


def test_spearman_ci_is_close_to_scipys_paired_percentile_bootstrap() -> None:
    # scipy's interval is itself a Monte Carlo estimate: its lower end moves by ~0.05 between
    # random states at 2000 resamples, so it gets 4000 here (ours: the default 10 000)
    x, y = _sample(25, 3)
    low, high = spearman_ci(x, y)
    reference = sps.bootstrap(
        (x, y),
        lambda a, b: sps.spearmanr(a, b).statistic,
        paired=True,
        vectorized=False,
        method="percentile",
        n_resamples=4000,
        random_state=0,
    ).confidence_interval
    assert low == pytest.approx(reference.low, abs=0.05)
    assert high == pytest.approx(reference.high, abs=0.05)
    rho, _ = spearman(x, y)
    assert low <= rho <= high
    assert low < high


def test_spearman_ci_is_reproducible_and_depends_on_the_seed() -> None:
    x, y = _sample(20, 7)
    assert spearman_ci(x, y, resamples=500, seed=4) == spearman_ci(x, y, resamples=500, seed=4)
    assert spearman_ci(x, y, resamples=500, seed=4) != spearman_ci(x, y, resamples=500, seed=5)
    # default seed: the same interval twice
    assert spearman_ci(x, y, resamples=300) == spearman_ci(x, y, resamples=300)


def test_spearman_ci_narrows_with_lower_confidence() -> None:
    x, y = _sample(20, 2)
    wide = spearman_ci(x, y, confidence=0.95, resamples=1000)
    narrow = spearman_ci(x, y, confidence=0.5, resamples=1000)
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]


def test_perfect_monotone_data_gives_rho_one_and_a_point_interval() -> None:
    x = np.linspace(0.1, 0.9, 12)
    y = np.exp(3 * x)
    rho, p = spearman(x, y)
    assert rho == pytest.approx(1.0) and p < 1e-6
    assert spearman_ci(x, y, resamples=500) == pytest.approx((1.0, 1.0))
    down = spearman(x, -y)[0]
    assert down == pytest.approx(-1.0)
    assert spearman_ci(x, -y, resamples=500) == pytest.approx((-1.0, -1.0))


def test_spearman_ci_is_none_when_rho_is_undefined() -> None:
    assert spearman_ci([0.1, 0.2], [0.2, 0.1]) is None
    assert spearman_ci([0.3, 0.3, 0.3], [0.1, 0.2, 0.3]) is None


def test_correlate_gathers_n_rho_interval_and_p() -> None:
    result = correlate([*X, None], [*Y, 0.3])
    assert result["n"] == len(X)
    assert result["rho"] == pytest.approx(sps.spearmanr(X, Y).statistic)
    assert result["p_value"] == pytest.approx(sps.spearmanr(X, Y).pvalue)
    assert isinstance(result["ci"], list) and len(result["ci"]) == 2
    assert result["ci"][0] <= result["rho"] <= result["ci"][1]
    assert correlate([0.1, 0.2], [0.3, 0.4]) == {"n": 2, "rho": None, "ci": None, "p_value": None}


figure_pairs = st.integers(min_value=3, max_value=15).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(min_value=-1000, max_value=1000), min_size=n, max_size=n),
        st.lists(
            st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False),
            min_size=n,
            max_size=n,
        ),
    )
)


@given(pairs=figure_pairs)
def test_spearman_is_rank_invariant_and_flips_sign_under_negation(pairs) -> None:
    x, y = pairs
    rho, p = spearman(x, y)
    if rho is None:
        assert np.ptp(x) == 0 or np.ptp(y) == 0
        return
    # strictly increasing and exact in floats for these integers: ranks and ties kept
    transformed = [float(v) ** 3 + 5.0 * v + 0.5 for v in x]
    rho_t, p_t = spearman(transformed, y)
    assert rho_t == pytest.approx(rho, abs=1e-9) and p_t == pytest.approx(p, abs=1e-9)
    assert spearman([-v for v in x], y)[0] == pytest.approx(-rho, abs=1e-9)
    assert spearman(y, x)[0] == pytest.approx(rho, abs=1e-9)  # symmetric


# --------------------------------------------------------------------------- bands


REWARDS = [0.10, 0.42, 0.25, 0.55, 0.35, 0.30, 0.61, 0.18, 0.47, 0.52]
ROWS = [{"id": 10 + i, "reward": r, "genotype": f"g{i}"} for i, r in enumerate(REWARDS)]


def test_band_edges_are_numpys_terciles() -> None:
    low, high = band_edges(REWARDS)
    expected = np.quantile(REWARDS, [1 / 3, 2 / 3])
    assert (low, high) == pytest.approx(tuple(expected))
    assert isinstance(low, float) and isinstance(high, float)
    assert band_edges([0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError, match="no rewards"):
        band_edges([])


def test_band_of_puts_an_edge_in_the_lower_band() -> None:
    edges = (0.3, 0.6)
    assert band_of(0.1, edges) == "low"
    assert band_of(0.3, edges) == "low"
    assert band_of(0.30001, edges) == "medium"
    assert band_of(0.6, edges) == "medium"
    assert band_of(0.6001, edges) == "high"
    assert band_of(0.9, edges) == "high"


def test_sample_bands_takes_per_band_from_each_band_ordered_by_band_then_id() -> None:
    chosen, edges = sample_bands(ROWS, 2, seed=3)
    assert edges == band_edges(REWARDS)
    assert len(chosen) == 6
    bands = [r["band"] for r in chosen]
    assert bands == ["low", "low", "medium", "medium", "high", "high"]
    for row in chosen:
        assert band_of(row["reward"], edges) == row["band"]
        original = next(r for r in ROWS if r["id"] == row["id"])
        assert {k: row[k] for k in original} == original  # the row itself, band added
    for band in BANDS:
        ids = [r["id"] for r in chosen if r["band"] == band]
        assert ids == sorted(ids)
    assert len({r["id"] for r in chosen}) == len(chosen)  # no duplicates
    assert "band" not in ROWS[0]  # the input rows are not changed


def test_sample_bands_is_deterministic_for_a_seed() -> None:
    first = sample_bands(ROWS, 2, seed=11)
    assert sample_bands(ROWS, 2, seed=11) == first
    assert sample_bands(list(reversed(ROWS)), 2, seed=11) == first  # row order does not matter
    draws = {tuple(r["id"] for r in sample_bands(ROWS, 1, seed=s)[0]) for s in range(20)}
    assert len(draws) > 1  # the seed does choose


def test_sample_bands_takes_all_of_a_smaller_band() -> None:
    chosen, edges = sample_bands(ROWS, 100, seed=0)
    assert sorted(r["id"] for r in chosen) == sorted(r["id"] for r in ROWS)
    counts = {b: sum(r["band"] == b for r in chosen) for b in BANDS}
    assert counts == {b: sum(band_of(r, edges) == b for r in REWARDS) for b in BANDS}
    # a band with fewer members than per_band: all of them, the others per_band
    rewards = [0.1, 0.1, 0.1, 0.1, 0.1, 0.5, 0.6, 0.7, 0.8]  # edges 0.1 and 0.533
    skewed = [{"id": i, "reward": r} for i, r in enumerate(rewards)]
    chosen, edges = sample_bands(skewed, 2, seed=0)
    assert [band_of(r, edges) for r in rewards].count("medium") == 1
    counts = {b: sum(r["band"] == b for r in chosen) for b in BANDS}
    assert counts == {"low": 2, "medium": 1, "high": 2}
    # a band with no member at all: none from it
    empty = [{"id": i, "reward": r} for i, r in enumerate([0.1, 0.1, 0.1, 0.1, 0.5, 0.9])]
    chosen, _ = sample_bands(empty, 1, seed=0)
    assert [r["band"] for r in chosen] == ["low", "high"]


def test_sample_bands_refuses_per_band_below_one() -> None:
    with pytest.raises(ValueError, match="--per-band: got 0"):
        sample_bands(ROWS, 0, seed=0)
