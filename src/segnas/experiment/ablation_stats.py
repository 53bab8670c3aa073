"""Paired statistics of `segnas experiment ablation`: does one setup raise the rewards of the same
designs over the previous setup?

Every design is scored under every setup with the same run seed (common random numbers), so a
step is judged on its paired differences (after minus before), which cancel most of the spread
between designs: the mean difference with a bootstrap interval, the share of designs improved,
and the Wilcoxon signed-rank test. Pure functions on plain sequences; a missing reward (None or
NaN: a failed candidate) drops the design from every figure of that step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Rewards = Sequence[float | None]
CONFIDENCE = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
ALPHA = 0.05
"""Significance level of the plain reading ("raises ...: yes") in the report."""


def present(values: Rewards) -> np.ndarray:
    """The finite values, as floats: failed candidates (None, NaN) left out."""
    return np.array([float(v) for v in values if _finite(v)], dtype=float)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))


def paired(before: Rewards, after: Rewards) -> tuple[np.ndarray, np.ndarray]:
    """The two rewards of each design scored under both setups (same index = same design)."""
    if len(before) != len(after):
        raise ValueError(
            f"paired rewards: got {len(before)} and {len(after)} designs, expected equal"
        )
    keep = [i for i, (a, b) in enumerate(zip(before, after)) if _finite(a) and _finite(b)]
    return (
        np.array([float(before[i]) for i in keep], dtype=float),  # type: ignore[arg-type]
        np.array([float(after[i]) for i in keep], dtype=float),  # type: ignore[arg-type]
    )


def describe(values: Rewards) -> dict[str, Any]:
    """n, mean and median of one setup's rewards (None where there are none)."""
    x = present(values)
    if not x.size:
        return {"n": 0, "mean": None, "median": None}
    return {"n": int(x.size), "mean": float(x.mean()), "median": float(np.median(x))}


def bootstrap_ci(
    differences: Sequence[float],
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean difference; a fixed seed makes a report
    reproducible. None for no differences."""
    d = np.asarray(differences, dtype=float)
    if not d.size:
        return None
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def share_improved(before: Rewards, after: Rewards) -> float | None:
    """Share of the paired designs whose reward went up (a tie is not an improvement)."""
    a, b = paired(before, after)
    return float(np.mean(b > a)) if a.size else None


def wilcoxon_p(before: Rewards, after: Rewards) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of the paired rewards (scipy's defaults); None
    when no design changed (the test is undefined)."""
    from scipy.stats import wilcoxon

    a, b = paired(before, after)
    if not np.any(b != a):
        return None
    return float(wilcoxon(b, a).pvalue)


def compare(before: Rewards, after: Rewards, *, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Everything the report says about one step: pairs, mean and median difference, the
    bootstrap interval, share improved, p-value, and whether the step raises the rewards."""
    a, b = paired(before, after)
    diff = b - a
    ci = bootstrap_ci(diff, seed=seed)
    p = wilcoxon_p(a, b)
    mean = float(diff.mean()) if diff.size else None
    return {
        "n": int(diff.size),
        "mean_diff": mean,
        "median_diff": float(np.median(diff)) if diff.size else None,
        "ci": list(ci) if ci is not None else None,
        "share_improved": share_improved(a, b),
        "p_value": p,
        "raises": bool(p is not None and p < ALPHA and mean is not None and mean > 0),
    }
