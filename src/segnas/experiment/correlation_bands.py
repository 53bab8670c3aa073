"""Designs for `segnas experiment correlation`: a search's scored designs split into low, medium
and high reward bands at its reward terciles, and M drawn from each, so the correlation is
measured over the whole range a search sees, not only among its leaders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BANDS = ("low", "medium", "high")


def band_edges(rewards: Sequence[float]) -> tuple[float, float]:
    """The rewards' 1/3 and 2/3 quantiles (numpy's linear interpolation)."""
    if not len(rewards):
        raise ValueError("reward bands: no rewards")
    low, high = np.quantile(np.asarray(rewards, dtype=float), [1 / 3, 2 / 3])
    return float(low), float(high)


def band_of(reward: float, edges: tuple[float, float]) -> str:
    """`low` up to the first edge, `medium` up to the second, `high` above it."""
    if reward <= edges[0]:
        return "low"
    return "medium" if reward <= edges[1] else "high"


def sample_bands(
    rows: Sequence[dict[str, Any]], per_band: int, seed: int
) -> tuple[list[dict[str, Any]], tuple[float, float]]:
    """`per_band` rows drawn without replacement from each band (all of a smaller band), each
    returned with its `band`, ordered by band then candidate id; and the band edges. The
    draw depends only on `rows`, `per_band` and `seed`, so a rerun picks the same designs."""
    if per_band < 1:
        raise ValueError(f"--per-band: got {per_band}, expected >= 1")
    edges = band_edges([r["reward"] for r in rows])
    rng = np.random.default_rng(seed)
    chosen = []
    for band in BANDS:
        members = sorted((r for r in rows if band_of(r["reward"], edges) == band), key=_id)
        take = min(per_band, len(members))
        picks = sorted(rng.choice(len(members), size=take, replace=False)) if take else []
        chosen += [{**members[i], "band": band} for i in picks]
    return chosen, edges


def _id(row: dict[str, Any]) -> int:
    return int(row["id"])
