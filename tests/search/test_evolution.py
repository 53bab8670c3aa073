"""Regularised evolution: one-token children of tournament winners, aging, exact resume."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segnas.genotype import DEFAULT_SPACE, Genotype, SearchSpace, sample
from segnas.search.evolution import EvolutionSettings, EvolutionStrategy
from segnas.search.settings import SearchSettings
from segnas.search.strategies import RandomStrategy, make_strategy
from segnas.settings_io import SettingsError, from_dict
from tests.fixtures.strategy_runs import round_trip, run, synthetic_reward


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rewards=st.lists(st.sampled_from([0.0, 0.25, 0.5]), min_size=4, max_size=4),
    space=st.sampled_from([DEFAULT_SPACE, SearchSpace(num_ops=1), SearchSpace(num_taps=1)]),
)
def test_a_child_is_its_parent_with_one_token_changed(seed, rewards, space) -> None:
    # A tournament of the whole population: the parent is its best, the youngest on ties.
    strategy = EvolutionStrategy(space, EvolutionSettings(population=4, sample_size=4), seed)
    members = []
    for reward in rewards:
        proposal = strategy.propose()
        strategy.observe(proposal, reward)
        members.append(proposal.tokens)
    best = max(rewards)
    parent = members[max(i for i, r in enumerate(rewards) if r == best)]
    for _ in range(3):  # a generation: proposals before any reward comes back
        child = strategy.propose()
        assert child.log_prob is None and child.tokens == child.genotype.tokens()
        assert Genotype.from_tokens(child.tokens, space) == child.genotype  # valid
        assert sum(a != b for a, b in zip(child.tokens, parent)) == 1
        parent_network = Genotype.from_tokens(parent, space).normalized()
        assert child.genotype.normalized() != parent_network
    assert strategy.stats()["observed"] == 4


def test_the_first_population_is_uniform_random() -> None:
    strategy = EvolutionStrategy(DEFAULT_SPACE, EvolutionSettings(population=5), seed=4)
    rng = random.Random(4)
    for _ in range(5):
        assert strategy.propose().genotype == sample(rng)  # nothing observed yet: still random
    for _ in range(4):
        proposal = strategy.propose()
        assert proposal.genotype == sample(rng)
        strategy.observe(proposal, 0.5)
    assert strategy.propose().genotype == sample(rng)  # 4 of 5 observed: still random


def test_aging_keeps_the_last_population_observed() -> None:
    config = EvolutionSettings(population=5, sample_size=2)
    strategy = EvolutionStrategy(DEFAULT_SPACE, config, seed=0)
    observed = []
    for step in range(23):
        proposal = strategy.propose()
        reward = 1.0 if step == 2 else synthetic_reward(proposal.tokens)  # the best dies too
        strategy.observe(proposal, reward)
        observed.append((proposal.tokens, reward))
        assert len(strategy.population) == min(step + 1, 5)
        assert list(strategy.population) == observed[-5:]
        assert strategy.stats()["population_best"] == max(r for _, r in observed[-5:])
    assert strategy.stats()["observed"] == 23


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evolution_beats_random_search(seed: int) -> None:
    steps, last = 150, 50
    _, evolution = run(EvolutionStrategy(DEFAULT_SPACE, EvolutionSettings(), seed), steps)
    _, uniform = run(RandomStrategy(DEFAULT_SPACE, seed), steps)
    evolution_mean = statistics.mean(evolution[-last:])
    random_mean = statistics.mean(uniform[-last:])
    assert evolution_mean > random_mean + 0.1, (evolution_mean, random_mean)


def test_resume_matches_an_uninterrupted_run() -> None:
    config = EvolutionSettings(population=6, sample_size=3)
    original = make_strategy("evolution", DEFAULT_SPACE, seed=11, evolution=config)
    run(original, 9)  # past the random start
    saved = round_trip(original.state_dict())
    continued = run(original, 20)

    restored = make_strategy("evolution", DEFAULT_SPACE, seed=999, evolution=config)
    assert isinstance(restored, EvolutionStrategy) and restored.config == config
    restored.load_state_dict(saved)  # the seed must not matter
    assert run(restored, 20) == continued
    assert restored.stats() == original.stats()
    assert restored.state_dict() == original.state_dict()


def test_state_is_plain_data_and_foreign_states_fail_clearly() -> None:
    small = EvolutionSettings(population=2, sample_size=2)
    strategy = EvolutionStrategy(DEFAULT_SPACE, small, seed=0)
    run(strategy, 3)
    state = strategy.state_dict()
    assert round_trip(state) == state
    assert state["kind"] == "evolution" and state["observed"] == 3
    assert state["config"] == {"population": 2, "sample_size": 2}
    with pytest.raises(ValueError, match="'random'"):
        strategy.load_state_dict(RandomStrategy(DEFAULT_SPACE, 0).state_dict())
    other = EvolutionStrategy(SearchSpace(num_blocks=2), small, 0)
    with pytest.raises(ValueError, match="space"):
        strategy.load_state_dict(other.state_dict())
    bigger = EvolutionStrategy(DEFAULT_SPACE, EvolutionSettings(population=3, sample_size=2), 0)
    with pytest.raises(ValueError, match="evolution settings"):
        bigger.load_state_dict(state)
    with pytest.raises(ValueError, match="reward"):
        strategy.observe(strategy.propose(), float("inf"))


def test_stats_have_the_keys_of_the_other_strategies() -> None:
    strategy = EvolutionStrategy(DEFAULT_SPACE, EvolutionSettings(), seed=0)
    stats = strategy.stats()
    assert set(RandomStrategy(DEFAULT_SPACE, 0).stats()) | {"population_best"} == set(stats)
    assert stats["population_best"] is None and stats["mean_entropy"] is None
    assert stats["updates"] == 0 and stats["baseline"] is None and stats["last_loss"] is None


def test_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"population: got 1, expected >= 2"):
        EvolutionStrategy(DEFAULT_SPACE, EvolutionSettings(population=1, sample_size=1), 0)
    with pytest.raises(ValueError, match="sample_size: got 0"):
        EvolutionSettings(sample_size=0)
    with pytest.raises(ValueError, match="sample_size: got 17"):
        EvolutionSettings(sample_size=17)
    EvolutionSettings(population=2, sample_size=2)
    with pytest.raises(SettingsError, match=r"^evolution\.population: got 1, expected >= 2"):
        from_dict(SearchSettings, {"strategy": "evolution", "evolution": {"population": 1}})
    config = from_dict(SearchSettings, {"strategy": "evolution", "evolution": {"sample_size": 2}})
    assert config.evolution == EvolutionSettings(sample_size=2)
