"""What a search maximises: the accuracy reward alone, or traded against deployed latency.

The store keeps the accuracy reward and the latency apart; the objective is applied when a
strategy hears a result and when rows are ranked, so a finished run can be ranked again under
another objective (`segnas report --objective ...`) without training anything.

`latency-aware` is MnasNet's soft constraint (Tan et al., 2019): reward x (latency / target)^w
with w < 0 (default -0.07: a design twice as slow as the target must be about 5% more accurate
to tie). A hard cap (`max_latency_ms`) is separate and works with either objective: a design
over it is recorded as over-budget after its latency is measured and is never trained.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from segnas.settings_io import require

KINDS = ("accuracy", "latency-aware")


@dataclass(frozen=True)
class ObjectiveSettings:
    """The objective of a search, and an optional hard latency cap."""

    kind: Literal["accuracy", "latency-aware"] = "accuracy"
    """`accuracy`: the reward as it is; `latency-aware`: reward x (latency / target)^weight."""
    target_ms: float | None = None
    """Latency target of `latency-aware` (ms); defaults to `max_latency_ms` when that is set."""
    weight: float = -0.07
    """Exponent w of the soft constraint (MnasNet: -0.07); 0 ignores latency."""
    max_latency_ms: float | None = None
    """Hard cap: designs slower than this are recorded as over-budget and not trained."""

    def __post_init__(self) -> None:
        require(self.kind in KINDS, "kind", self.kind, f"one of {KINDS}")
        require(self.weight <= 0, "weight", self.weight, "<= 0 (slower designs score less)")
        for name in ("target_ms", "max_latency_ms"):
            value = getattr(self, name)
            require(value is None or value > 0, name, value, "> 0 or null")
        if self.kind == "latency-aware":
            require(
                self.target is not None,
                "target_ms",
                self.target_ms,
                "a latency target (or max_latency_ms) for the latency-aware objective",
            )

    @property
    def target(self) -> float | None:
        """The soft constraint's target: `target_ms`, else the cap."""
        return self.target_ms if self.target_ms is not None else self.max_latency_ms

    @property
    def needs_latency(self) -> bool:
        return self.kind == "latency-aware" or self.max_latency_ms is not None

    def over_cap(self, latency_ms: float | None) -> bool:
        """Whether a measured latency breaks the hard cap (an unmeasured one never does)."""
        cap = self.max_latency_ms
        return cap is not None and latency_ms is not None and latency_ms > cap

    def value(self, reward: float, latency_ms: float | None) -> float | None:
        """The objective of a scored design; None when it needs a latency that is missing."""
        if self.kind == "accuracy" or self.weight == 0:
            return reward
        if latency_ms is None:
            return None
        return reward * (latency_ms / self.target) ** self.weight  # type: ignore[operator]

    def describe(self) -> str:
        """One line for reports: "accuracy" or "latency-aware (target 80 ms, w -0.07)"."""
        text = self.kind
        if self.kind == "latency-aware":
            text += f" (target {self.target:g} ms, w {self.weight:g})"
        if self.max_latency_ms is not None:
            text += f", latency cap {self.max_latency_ms:g} ms"
        return text


def objective_from(settings: dict[str, Any] | None) -> ObjectiveSettings:
    """The objective recorded in a run's config.yaml (parsed), or accuracy for older runs."""
    raw = (settings or {}).get("objective")
    if not isinstance(raw, dict):
        return ObjectiveSettings()
    known = ObjectiveSettings.__dataclass_fields__
    return ObjectiveSettings(**{k: v for k, v in raw.items() if k in known})


def scored_values(
    rows: Iterable[dict[str, Any]], objective: ObjectiveSettings
) -> list[tuple[dict[str, Any], float]]:
    """(row, objective value) of every row the objective can rank: reward known, latency known
    when needed, within the cap."""
    out = []
    for row in rows:
        latency = row.get("latency_ms")
        if row.get("reward") is None or objective.over_cap(latency):
            continue
        value = objective.value(row["reward"], latency)
        if value is not None:
            out.append((row, value))
    return out
