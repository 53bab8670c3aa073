"""Progressive early termination between the two training stages (paper section 3.2.1).

After stage 1, a candidate whose reward beats the running mean of earlier stage-1 rewards goes
on to stage 2; any other goes on with probability p, else it stops with its stage-1 reward. p
starts at 0.9 and is annealed as the search advances, so early on most candidates get the full
evaluation (exploration) and later only promising ones do, akin to epsilon-greedy.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any, Literal

from segnas.search.strategies import python_rng_state, set_python_rng_state
from segnas.settings_io import require

Reason = Literal[
    "first candidate", "above running average", "coin: continue", "coin: stop", "disabled"
]


@dataclass(frozen=True)
class TerminationSettings:
    """When a candidate stops after stage 1. The paper fixes only p_start and "annealed"."""

    enabled: bool = True
    """False: every candidate goes on to stage 2."""
    p_start: float = 0.9
    """Probability that a below-average candidate still goes on, at the first candidate."""
    p_end: float = 0.1
    """That probability once annealed; a few below-average candidates still get a second look,
    which keeps a noisy stage-1 reward from ruling out a design for good."""
    schedule: Literal["linear", "exponential", "constant"] = "linear"
    """How p moves from p_start to p_end: straight line, geometric (constant ratio per
    candidate), or not at all (p_start throughout)."""
    anneal_over: int | None = None
    """Candidates over which p anneals; p stays at p_end from this candidate index on. None:
    over the run's budget, so a 24- or 200-candidate search anneals fully as the paper's
    1,000-candidate one did (a fixed 1,000 would leave p near p_start in short runs)."""

    def __post_init__(self) -> None:
        for name in ("p_start", "p_end"):
            value = getattr(self, name)
            require(0 <= value <= 1, name, value, "a probability in [0, 1]")
            if self.schedule == "exponential":
                require(value > 0, name, value, "> 0 (the exponential schedule divides by it)")
        anneal = self.anneal_over
        require(anneal is None or anneal >= 1, "anneal_over", anneal, ">= 1 or None")

    def p(self, index: int, budget: int | None = None) -> float:
        """Probability that below-average candidate `index` (0-based) goes on.

        `budget` is the run's size, the horizon when `anneal_over` is None.
        """
        horizon = self.anneal_over if self.anneal_over is not None else budget
        if horizon is None:
            raise ValueError("anneal_over: None anneals over the budget, but no budget was given")
        progress = min(max(index, 0) / max(horizon, 1), 1.0)
        if self.schedule == "linear":
            return self.p_start + (self.p_end - self.p_start) * progress
        if self.schedule == "exponential":
            return self.p_start * (self.p_end / self.p_start) ** progress
        return self.p_start


@dataclass(frozen=True)
class Decision:
    """Whether a candidate goes on to stage 2, and why; recorded with the candidate."""

    go_on: bool
    """True: train stage 2; False: stop with the stage-1 reward."""
    reason: Reason
    """Which part of the rule decided."""
    p: float
    """Probability a below-average candidate would go on at this index (1.0 when disabled)."""
    running_average: float | None
    """Mean of the stage-1 rewards recorded before this decision; None when there were none."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Gate:
    """One candidate's rule, fixed before it runs: average so far, p and its coin.

    Picklable and callable on the stage-1 reward (`ContinueRule`), so a worker process can
    apply it between the stages while the search process keeps the state.
    """

    enabled: bool
    p: float
    running_average: float | None
    coin: float
    """Uniform in [0, 1); a below-average candidate goes on when coin < p."""

    def decision(self, stage1_reward: float) -> Decision:
        if not math.isfinite(stage1_reward):
            raise ValueError(f"stage1_reward: got {stage1_reward}, expected a finite number")
        if not self.enabled:
            return Decision(True, "disabled", self.p, self.running_average)
        if self.running_average is None:
            return Decision(True, "first candidate", self.p, None)
        if stage1_reward > self.running_average:
            return Decision(True, "above running average", self.p, self.running_average)
        if self.coin < self.p:
            return Decision(True, "coin: continue", self.p, self.running_average)
        return Decision(False, "coin: stop", self.p, self.running_average)

    def __call__(self, stage1_reward: float) -> bool:
        return self.decision(stage1_reward).go_on


class ProgressiveTermination:
    """The stage-1 gate and its state: the running mean and the coin generator.

    Exactly one coin is drawn per candidate, needed or not, so the coin a candidate index sees
    does not depend on the rewards before it. `decide` serves a search that runs one candidate
    at a time; a search that runs several at once takes each candidate's `rule` as it starts
    and reports back with `observe`, in index order.
    """

    def __init__(self, config: TerminationSettings, seed: int, budget: int | None = None) -> None:
        if config.anneal_over is None and budget is None:
            raise ValueError("anneal_over: None anneals over the budget, but no budget was given")
        self.config = config
        self.budget = budget
        self.rng = random.Random(seed)
        self.reward_sum = 0.0
        self.count = 0
        self.failures = 0

    @property
    def running_average(self) -> float | None:
        return self.reward_sum / self.count if self.count else None

    def rule(self, index: int) -> Gate:
        """The gate for candidate `index` (0-based position in the search); draws its coin."""
        p = self.config.p(index, self.budget) if self.config.enabled else 1.0
        return Gate(self.config.enabled, p, self.running_average, self.rng.random())

    def decide(self, stage1_reward: float, index: int) -> Decision:
        """Decide for candidate `index`, then add its reward to the running mean."""
        decision = self.rule(index).decision(stage1_reward)
        self._record(stage1_reward)
        return decision

    def observe(self, index: int, rule: Gate, stage1_reward: float | None) -> dict[str, Any] | None:
        """Record what `rule` decided for candidate `index`; None: it failed before a reward."""
        if stage1_reward is None:
            self.record_failure()
            return None
        decision = rule.decision(stage1_reward)
        self._record(stage1_reward)
        return {"index": index, **decision.to_dict()}

    def _record(self, stage1_reward: float) -> None:
        self.reward_sum += stage1_reward
        self.count += 1

    def record_failure(self) -> None:
        """A candidate that failed in stage 1: counted, but it leaves the average alone."""
        self.failures += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": python_rng_state(self.rng),
            "reward_sum": self.reward_sum,
            "count": self.count,
            "failures": self.failures,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_python_rng_state(self.rng, state["rng"])
        self.reward_sum = state["reward_sum"]
        self.count = state["count"]
        self.failures = state["failures"]
