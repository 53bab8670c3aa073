"""What one candidate evaluation produces; plain data, so the search side needs no torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["done", "stopped", "failed", "over-budget"]
ContinueRule = Callable[[float], bool]
"""Early termination: given the stage-1 reward, whether the candidate goes on to stage 2."""


@dataclass
class CandidateResult:
    """Everything measured for one candidate; `reward` is what the controller learns from."""

    genotype: str
    status: Status = "failed"
    reward: float = 0.0
    stage1_reward: float | None = None
    stage2_reward: float | None = None
    stage1_metrics: dict[str, Any] | None = None
    stage2_metrics: dict[str, Any] | None = None
    stage1_loss: float | None = None
    stage2_loss: float | None = None
    params: int | None = None
    madds: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    failure: str | None = None
    traceback: str | None = None
    reused_from: int | None = None
    """Index of the earlier candidate whose result this copies (the same design, not trained
    again); None for a candidate trained itself."""
    latency_ms: float | None = None
    """Mean latency of the design's deployed form, when the run measures it."""
    latency: dict[str, Any] | None = None
    """How it was measured (target, size, threads, runtime, device, cached or not)."""

    @property
    def scored(self) -> bool:
        """Whether it has a reward (trained to the end or stopped after stage 1)."""
        return self.status in ("done", "stopped")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
