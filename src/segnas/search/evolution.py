"""Regularised (aging) evolution (Real et al., 2019) as a search strategy.

A population of the last `population` designs observed, oldest first. Until it is full, designs
are drawn uniformly; after that each proposal is a tournament: `sample_size` random members, the
best of them is the parent, and the child is the parent with one token changed. Every observed
child joins the population and the oldest member leaves (aging), whatever its reward.

One `random.Random(seed)` draws everything, so the state (that generator, the population and a
count) is plain Python data and a restored search proposes exactly what the uninterrupted one
would have. The population changes only in `observe`, so several proposals may be drawn before
their rewards come back (a generation).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from segnas.genotype import Genotype, SearchSpace, sample
from segnas.search.strategies import (
    Proposal,
    _check_reward,
    _check_state,
    python_rng_state,
    set_python_rng_state,
)
from segnas.settings_io import require

MUTATION_RETRIES = 100
"""Redraws of a mutation that leaves the design's network unchanged, before accepting it."""


@dataclass(frozen=True)
class EvolutionSettings:
    """Regularised evolution's two settings (the paper's P and S)."""

    population: int = 16
    """P: designs kept, the oldest leaves when a child arrives."""
    sample_size: int = 4
    """S: tournament size; the best of S random members is the parent."""

    def __post_init__(self) -> None:
        require(self.population >= 2, "population", self.population, ">= 2")
        size, most = self.sample_size, self.population
        require(1 <= size <= most, "sample_size", size, f"in [1, {most}] (at most population)")


class EvolutionStrategy:
    """Aging evolution: tournament selection, one-token mutation, the oldest member dies."""

    def __init__(self, space: SearchSpace, config: EvolutionSettings, seed: int) -> None:
        self.space = space
        self.config = config
        self.rng = random.Random(seed)
        self.ranges = space.token_ranges()
        self.population: deque[tuple[list[int], float]] = deque(maxlen=config.population)
        self.observed = 0

    def propose(self) -> Proposal:
        if len(self.population) < self.config.population:
            genotype = sample(self.rng, self.space)
        else:
            genotype = self._mutate(self._tournament())
        return Proposal(genotype, genotype.tokens(), None)

    def _tournament(self) -> list[int]:
        """The tokens of the best of `sample_size` random members; ties go to the younger."""
        members = self.rng.sample(range(len(self.population)), self.config.sample_size)
        best = max(members, key=lambda i: (self.population[i][1], i))
        return self.population[best][0]

    def _mutate(self, parent: list[int]) -> Genotype:
        """`parent` with one token changed, redrawn while the network stays the same."""
        original = Genotype.from_tokens(parent, self.space).normalized()
        for _ in range(1 + MUTATION_RETRIES):
            position = self.rng.randrange(len(parent))
            tokens = list(parent)
            if self.ranges[position] > 1:  # a token with one value cannot change
                value = self.rng.randrange(self.ranges[position] - 1)  # the other values
                tokens[position] = value + 1 if value >= parent[position] else value
            child = Genotype.from_tokens(tokens, self.space)
            if child.normalized() != original:
                break
        return child

    def observe(self, proposal: Proposal, reward: float) -> None:
        """The design joins the population; beyond `population` members the oldest leaves."""
        reward = _check_reward(reward)
        self.population.append((list(proposal.tokens), reward))
        self.observed += 1

    def stats(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "baseline": None,
            "last_loss": None,
            "updates": 0,
            "mean_entropy": None,
            "population_best": max((r for _, r in self.population), default=None),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "evolution",
            "space": asdict(self.space),
            "rng": python_rng_state(self.rng),
            "population": {
                "tokens": [list(tokens) for tokens, _ in self.population],
                "rewards": [reward for _, reward in self.population],
            },
            "observed": self.observed,
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, "evolution", self.space)
        if state.get("config") != asdict(self.config):
            raise ValueError(
                f"strategy state: saved with evolution settings {state.get('config')}, "
                f"not {asdict(self.config)}"
            )
        set_python_rng_state(self.rng, state["rng"])
        population = state["population"]
        self.population = deque(
            zip((list(t) for t in population["tokens"]), map(float, population["rewards"])),
            maxlen=self.config.population,
        )
        self.observed = state["observed"]
