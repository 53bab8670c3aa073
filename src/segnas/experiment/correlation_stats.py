"""Rank correlation of `segnas experiment correlation`: Spearman's rho between two figures of the
same designs, with a percentile bootstrap interval over designs (pairs resampled together).

Pure functions on plain sequences; a pair with a missing value (None or NaN: a failed or
stopped candidate) is left out of that correlation only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata, spearmanr

Values = Sequence[float | None]
CONFIDENCE = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
MIN_PAIRS = 3
"""Fewer pairs give no rank correlation worth printing."""


def complete_pairs(x: Values, y: Values) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) pairs where both are finite, as float arrays (same index = same design)."""
    if len(x) != len(y):
        raise ValueError(f"pairs: got {len(x)} and {len(y)} values, expected equal lengths")

    def ok(v: float | None) -> bool:
        return v is not None and math.isfinite(float(v))

    keep = [i for i in range(len(x)) if ok(x[i]) and ok(y[i])]
    return (
        np.array([float(x[i]) for i in keep], dtype=float),  # type: ignore[arg-type]
        np.array([float(y[i]) for i in keep], dtype=float),  # type: ignore[arg-type]
    )


def spearman(x: Values, y: Values) -> tuple[float | None, float | None]:
    """(rho, two-sided p) of scipy's `spearmanr` on the complete pairs; (None, None) with fewer
    than `MIN_PAIRS` pairs or a constant side (rho is undefined)."""
    a, b = complete_pairs(x, y)
    if a.size < MIN_PAIRS or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    result = spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of two (R, n) arrays; NaN for a constant row."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)


def spearman_ci(
    x: Values,
    y: Values,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of rho: designs drawn with replacement (each keeps its
    pair), rho of each resample from average ranks (as `spearmanr`); resamples in which one
    side is constant have no rho and are left out. None when rho itself is undefined."""
    a, b = complete_pairs(x, y)
    if spearman(a, b)[0] is None:
        return None
    rng = np.random.default_rng(seed)
    index = rng.integers(0, a.size, size=(resamples, a.size))
    rhos = _row_pearson(rankdata(a[index], axis=1), rankdata(b[index], axis=1))
    rhos = rhos[np.isfinite(rhos)]
    if not rhos.size:
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(rhos, [tail, 1 - tail])
    return float(low), float(high)


def correlate(x: Values, y: Values, *, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Everything the report says about one pair of figures: pairs, rho, its interval, p."""
    a, b = complete_pairs(x, y)
    rho, p = spearman(a, b)
    ci = spearman_ci(a, b, seed=seed)
    return {"n": int(a.size), "rho": rho, "ci": list(ci) if ci else None, "p_value": p}
