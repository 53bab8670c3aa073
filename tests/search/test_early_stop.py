"""Progressive early termination: the rule, the schedules, the coin and exact resumption."""

from __future__ import annotations

import io
import pickle
import random

import pytest
import torch

from segnas.search.early_stop import Decision, ProgressiveTermination, TerminationSettings


def decide_all(gate: ProgressiveTermination, rewards: list[float], start: int = 0) -> list:
    return [gate.decide(r, start + i) for i, r in enumerate(rewards)]


def test_first_candidate_goes_on() -> None:
    gate = ProgressiveTermination(TerminationSettings(p_start=0.0, p_end=0.0), seed=0, budget=10)
    assert gate.decide(0.0, 0) == Decision(True, "first candidate", 0.0, None)


def test_above_average_always_goes_on() -> None:
    # p = 0: only the rule can let a candidate through
    gate = ProgressiveTermination(TerminationSettings(p_start=0.0, p_end=0.0), seed=0, budget=10)
    gate.decide(0.5, 0)
    rewards = [0.6, 0.4, 0.7, 0.5, 0.2]
    decisions = decide_all(gate, rewards, start=1)
    averages = [0.5, 0.55, 0.5, 0.55, 0.54]
    for decision, reward, average in zip(decisions, rewards, averages):
        assert decision.running_average == pytest.approx(average)
        assert decision.go_on == (reward > average)
        assert decision.reason == ("above running average" if reward > average else "coin: stop")


def test_a_tie_is_not_above_average() -> None:
    gate = ProgressiveTermination(TerminationSettings(p_start=0.0, p_end=0.0), seed=0, budget=10)
    gate.decide(0.5, 0)
    assert gate.decide(0.5, 1).reason == "coin: stop"


def test_failures_leave_the_average_alone() -> None:
    gate = ProgressiveTermination(TerminationSettings(), seed=0, budget=1000)
    gate.decide(0.4, 0)
    gate.record_failure()
    gate.record_failure()
    assert gate.running_average == pytest.approx(0.4) and gate.failures == 2
    assert gate.decide(0.3, 3).running_average == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("linear", [0.9, 0.7, 0.5, 0.1, 0.1]),
        ("exponential", [0.9, 0.9 * (1 / 9) ** 0.25, 0.3, 0.1, 0.1]),
        ("constant", [0.9, 0.9, 0.9, 0.9, 0.9]),
    ],
)
def test_p_follows_the_schedule(schedule: str, expected: list[float]) -> None:
    config = TerminationSettings(p_start=0.9, p_end=0.1, schedule=schedule, anneal_over=100)
    assert [config.p(i) for i in (0, 25, 50, 100, 1000)] == pytest.approx(expected)
    gate = ProgressiveTermination(config, seed=0)
    gate.decide(1.0, 0)
    assert gate.decide(0.0, 50).p == pytest.approx(expected[2])


def test_below_average_goes_on_with_probability_p() -> None:
    config = TerminationSettings(p_start=0.3, schedule="constant")
    gate = ProgressiveTermination(config, seed=0, budget=4000)
    gate.decide(1.0, 0)
    decisions = decide_all(gate, [0.0] * 4000, start=1)
    share = sum(d.go_on for d in decisions) / len(decisions)
    assert share == pytest.approx(0.3, abs=0.03)
    assert {d.reason for d in decisions} == {"coin: continue", "coin: stop"}


def test_coins_are_seeded() -> None:
    rewards = [random.Random(1).random() for _ in range(200)]
    runs = [
        decide_all(ProgressiveTermination(TerminationSettings(), seed, budget=1000), rewards)
        for seed in (7, 7, 8)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_disabled_lets_everything_through() -> None:
    gate = ProgressiveTermination(TerminationSettings(enabled=False), seed=0, budget=10)
    decisions = decide_all(gate, [0.5, 0.1, 0.0])
    assert all(d.go_on and d.reason == "disabled" and d.p == 1.0 for d in decisions)
    assert gate.running_average == pytest.approx(0.2)


def test_resume_matches_an_uninterrupted_run() -> None:
    rng = random.Random(3)
    rewards = [rng.random() for _ in range(60)]
    config = TerminationSettings(anneal_over=50)
    original = ProgressiveTermination(config, seed=2)
    decide_all(original, rewards[:20])
    original.record_failure()
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    continued = decide_all(original, rewards[20:], start=21)

    restored = ProgressiveTermination(config, seed=123)  # the seed must not matter
    restored.load_state_dict(saved)
    assert decide_all(restored, rewards[20:], start=21) == continued
    assert restored.state_dict() == original.state_dict()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"p_start": 1.5}, "p_start"),
        ({"p_end": -0.1}, "p_end"),
        ({"schedule": "exponential", "p_end": 0.0}, "exponential"),
        ({"anneal_over": 0}, "anneal_over"),
    ],
)
def test_config_validation_names_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ProgressiveTermination(TerminationSettings(**changes), seed=0)


def test_non_finite_rewards_are_refused() -> None:
    gate = ProgressiveTermination(TerminationSettings(), seed=0, budget=1000)
    with pytest.raises(ValueError, match="stage1_reward"):
        gate.decide(float("inf"), 0)


def test_rules_taken_ahead_agree_with_decide() -> None:
    """A search running candidates one at a time gets the same decisions either way."""
    rewards = [random.Random(5).random() for _ in range(40)]
    config = TerminationSettings(anneal_over=30)
    direct = decide_all(ProgressiveTermination(config, seed=1), rewards)
    gate = ProgressiveTermination(config, seed=1)
    via_rules = []
    for index, reward in enumerate(rewards):
        rule = pickle.loads(pickle.dumps(gate.rule(index)))  # as a worker process gets it
        assert rule(reward) == direct[index].go_on
        via_rules.append(gate.observe(index, rule, reward))
    assert via_rules == [{"index": i, **d.to_dict()} for i, d in enumerate(direct)]


def test_observe_without_a_stage1_reward_is_a_failure() -> None:
    gate = ProgressiveTermination(TerminationSettings(), seed=0, budget=1000)
    gate.observe(0, gate.rule(0), 0.6)
    assert gate.observe(1, gate.rule(1), None) is None
    assert gate.failures == 1 and gate.running_average == pytest.approx(0.6)


def test_a_generation_shares_one_snapshot_of_the_average() -> None:
    gate = ProgressiveTermination(TerminationSettings(), seed=0, budget=1000)
    gate.decide(0.5, 0)
    rules = [gate.rule(i) for i in (1, 2, 3)]
    assert {r.running_average for r in rules} == {0.5}
    assert len({r.coin for r in rules}) == 3


def test_p_anneals_over_the_budget_by_default() -> None:
    """A 24-candidate run reaches p_end at its end, as a 1,000-candidate one would."""
    config = TerminationSettings(p_start=0.9, p_end=0.1)
    assert [config.p(i, 24) for i in (0, 12, 24)] == pytest.approx([0.9, 0.5, 0.1])
    gate = ProgressiveTermination(config, seed=0, budget=24)
    assert gate.rule(12).p == pytest.approx(0.5)
    with pytest.raises(ValueError, match="anneal_over"):
        ProgressiveTermination(config, seed=0)
