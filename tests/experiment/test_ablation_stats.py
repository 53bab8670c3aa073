"""Paired statistics of the ablation against scipy and against hand-counted values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from segnas.experiment.ablation_stats import (
    bootstrap_ci,
    compare,
    describe,
    paired,
    share_improved,
    wilcoxon_p,
)

BEFORE = [0.31, 0.42, 0.28, 0.50, 0.36, 0.45, 0.39, 0.33]
AFTER = [0.35, 0.44, 0.27, 0.58, 0.41, 0.47, 0.45, 0.36]
"""Eight designs; the second setup is higher on seven of them."""


def test_wilcoxon_p_is_scipys_paired_test() -> None:
    assert wilcoxon_p(BEFORE, AFTER) == pytest.approx(wilcoxon(AFTER, BEFORE).pvalue, rel=1e-12)
    assert wilcoxon_p(AFTER, BEFORE) == pytest.approx(wilcoxon(BEFORE, AFTER).pvalue, rel=1e-12)
    assert wilcoxon_p(BEFORE, AFTER) < 0.05  # seven of eight up: significant at 5%


def test_wilcoxon_is_undefined_when_no_design_changed() -> None:
    assert wilcoxon_p([0.1, 0.2], [0.1, 0.2]) is None
    assert wilcoxon_p([], []) is None


def test_bootstrap_interval_holds_the_mean_and_repeats() -> None:
    diff = np.subtract(AFTER, BEFORE)
    low, high = bootstrap_ci(diff)
    assert low < diff.mean() < high
    assert bootstrap_ci(diff) == (low, high)  # fixed seed: the same interval every time
    assert bootstrap_ci(diff, seed=1) != (low, high)
    narrow = bootstrap_ci(diff, confidence=0.5)
    assert low <= narrow[0] <= narrow[1] <= high
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([0.02, 0.02, 0.02]) == pytest.approx((0.02, 0.02))


def test_share_improved_counted_by_hand() -> None:
    assert share_improved(BEFORE, AFTER) == pytest.approx(7 / 8)
    assert share_improved([0.1, 0.2, 0.3, 0.4], [0.2, 0.2, 0.1, 0.5]) == pytest.approx(2 / 4)
    assert share_improved([], []) is None


def test_failed_designs_are_left_out_of_every_figure() -> None:
    before = [*BEFORE, None, 0.40, math.nan]
    after = [*AFTER, 0.90, None, 0.10]
    a, b = paired(before, after)
    assert a.tolist() == BEFORE and b.tolist() == AFTER
    assert compare(before, after) == compare(BEFORE, AFTER)
    assert describe(before) == {
        "n": 9,
        "mean": pytest.approx(np.mean([*BEFORE, 0.40])),
        "median": pytest.approx(np.median([*BEFORE, 0.40])),
    }
    assert describe([None, math.nan]) == {"n": 0, "mean": None, "median": None}


def test_compare_says_whether_a_step_raises_the_rewards() -> None:
    up = compare(BEFORE, AFTER)
    diff = np.subtract(AFTER, BEFORE)
    assert up["n"] == 8
    assert up["mean_diff"] == pytest.approx(diff.mean())
    assert up["median_diff"] == pytest.approx(np.median(diff))
    assert up["ci"][0] < up["mean_diff"] < up["ci"][1]
    assert up["raises"] is True
    down = compare(AFTER, BEFORE)
    assert down["p_value"] == pytest.approx(up["p_value"]) and down["raises"] is False
    few = compare([0.1, 0.2], [0.3, 0.4])  # up on both, but two pairs cannot reach 5%
    assert few["share_improved"] == 1.0 and few["p_value"] == pytest.approx(0.5)
    assert few["raises"] is False


def test_unequal_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="got 2 and 3 designs"):
        paired([0.1, 0.2], [0.1, 0.2, 0.3])
