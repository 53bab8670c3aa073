"""Latency-aware search: the shared latency cache, the objectives, the hard cap (over-budget
designs never train), re-ranking a finished run, and the time budget's stop and resume."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from segnas.genotype import Genotype, resolve, sample
from segnas.search import loop as loop_module
from segnas.search.early_stop import ProgressiveTermination, TerminationSettings
from segnas.search.latency import (
    LatencyCache,
    LatencyKey,
    LatencyRecord,
    LatencySettings,
    cached_measurement,
)
from segnas.search.loop import SearchLoop
from segnas.search.objective import ObjectiveSettings, objective_from
from segnas.search.settings import SearchSettings
from segnas.search.store import OVER_BUDGET, ranked, read_candidates
from segnas.settings_io import FieldError
from tests.fixtures.scripted import Counting, Scripted, mirrored

DESIGNS = [sample(random.Random(seed)) for seed in range(6)]


def key(**changes) -> LatencyKey:
    fields = dict(
        design="d",
        classes=9,
        channels=64,
        repeats=2,
        encoder="mobilenet_v2",
        size=512,
        runtime="cpu torch-x",
        device="cpu",
        threads=2,
    )
    return LatencyKey(**{**fields, **changes})


def test_the_cache_measures_once_per_key_and_is_shared_between_processes(tmp_path: Path) -> None:
    calls = []

    def measure() -> tuple[float, float, int]:
        calls.append(1)
        return 12.5, 0.5, 10

    first = cached_measurement(LatencyCache(tmp_path / "latency.sqlite"), key(), measure)
    assert (first.mean_ms, first.cached, len(calls)) == (12.5, False, 1)
    again = LatencyCache(tmp_path / "latency.sqlite")  # another run opening the same file
    hit = cached_measurement(again, key(), measure)
    assert (hit.mean_ms, hit.std_ms, hit.runs, hit.cached, len(calls)) == (12.5, 0.5, 10, True, 1)
    for changed in (key(threads=1), key(size=256), key(runtime="onnxruntime-cpu ort-1")):
        assert not cached_measurement(again, changed, measure).cached
    assert len(calls) == 4 and len(again) == 4


def test_deployed_latency_is_timed_once_for_a_design_and_its_mirror(tmp_path: Path) -> None:
    from segnas.final.latency import DeployedLatency

    settings = LatencySettings(size=64, runs=2, warmup=0, channels=16, repeats=1, threads=1)
    meter = DeployedLatency(settings, 5, cache=LatencyCache(tmp_path / "latency.sqlite"))
    arch1 = resolve("arch1")
    first = meter(arch1)
    assert not first.cached and first.mean_ms > 0 and first.key.threads == 1
    assert first.key.design == str(arch1.normalized()) and first.key.classes == 5
    hit = meter(mirrored(arch1))
    assert hit.cached and hit.mean_ms == first.mean_ms and len(meter.cache) == 1
    assert "torch-" in first.key.runtime and "omp-" in first.key.runtime


def test_the_latency_aware_objective_is_mnasnets_soft_constraint() -> None:
    objective = ObjectiveSettings("latency-aware", target_ms=100.0)
    assert objective.value(0.5, 100.0) == pytest.approx(0.5)
    assert objective.value(0.5, 200.0) == pytest.approx(0.5 * 2**-0.07)
    assert objective.value(0.5, 50.0) == pytest.approx(0.5 * 0.5**-0.07)
    assert objective.value(0.5, None) is None
    assert ObjectiveSettings().value(0.5, None) == 0.5
    assert ObjectiveSettings("latency-aware", max_latency_ms=80.0).target == 80.0
    with pytest.raises(FieldError, match="target_ms"):
        ObjectiveSettings("latency-aware")
    with pytest.raises(FieldError, match="weight"):
        ObjectiveSettings(weight=0.1)
    with pytest.raises(FieldError, match="latency.measure"):
        SearchSettings(
            objective=ObjectiveSettings(max_latency_ms=5), latency=LatencySettings(measure=False)
        )


def rows(*points: tuple[float, float | None]) -> list[dict]:
    """Scored store rows with (reward, latency) in id order."""
    return [
        {"id": i, "genotype": str(DESIGNS[i]), "status": "done", "reward": r, "latency_ms": lat}
        for i, (r, lat) in enumerate(points)
    ]


def test_reranking_under_another_objective_changes_the_order_as_expected() -> None:
    run = rows((0.50, 200.0), (0.49, 50.0), (0.40, 20.0), (0.45, None))
    ids = lambda objective: [r["id"] for r in ranked(run, objective=objective)]  # noqa: E731
    assert ids(None) == [0, 1, 3, 2]
    soft = ObjectiveSettings("latency-aware", target_ms=100.0)
    # 0.5 * 2^-0.07 = 0.4763 < 0.49 * 0.5^-0.07 = 0.5145; 0.40 * 5^0.07 = 0.4476; id 3 unranked
    assert ids(soft) == [1, 0, 2]
    assert ids(ObjectiveSettings(max_latency_ms=60.0)) == [1, 3, 2]
    strong = ObjectiveSettings("latency-aware", target_ms=100.0, weight=-0.5)
    assert ids(strong) == [2, 1, 0]
    assert objective_from({"objective": {"kind": "latency-aware", "target_ms": 100.0}}) == soft
    assert objective_from({}) == ObjectiveSettings()


class FakeMeter:
    """Latency from the design's tokens; counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, genotype: Genotype) -> LatencyRecord:
        self.calls.append(str(genotype))
        ms = 10.0 + sum(genotype.normalized().tokens()) % 50
        return LatencyRecord(key(design=str(genotype.normalized())), ms, 0.1, 2, False, 0.01)


def search(run_dir: Path, designs, objective, meter, evaluator=None, **kwargs):
    strategy, evaluator = Scripted(designs), evaluator or Counting()
    loop = SearchLoop(
        run_dir,
        strategy,
        ProgressiveTermination(TerminationSettings(anneal_over=100), seed=0),
        evaluator,
        budget=kwargs.pop("budget", len(designs)),
        objective=objective,
        latency=meter,
        **kwargs,
    )
    try:
        return loop.run(), strategy, evaluator, loop
    finally:
        loop.close()


def test_a_design_over_the_cap_is_recorded_with_its_latency_and_never_trained(
    tmp_path: Path,
) -> None:
    meter = FakeMeter()
    latencies = {str(d): meter(d).mean_ms for d in DESIGNS}
    cap = sorted(latencies.values())[2]  # three designs at or under it, three over
    meter.calls.clear()
    out, strategy, evaluator, _ = search(
        tmp_path, DESIGNS, ObjectiveSettings(max_latency_ms=cap), meter
    )
    over = {g for g, ms in latencies.items() if ms > cap}
    assert len(over) == 3 and set(evaluator.calls) == set(latencies) - over
    assert len(meter.calls) == len(DESIGNS)
    for row in out:
        assert row["latency_ms"] == latencies[row["genotype"]]
        assert row["latency"]["runs"] == 2 and "latency" in row["seconds"]
        if row["genotype"] in over:
            assert row["status"] == OVER_BUDGET and row["stage1_reward"] is None
            assert "over the cap" in row["failure"]
    heard = dict(strategy.heard)
    assert all(heard[g] == 0.0 for g in over)
    assert all(heard[g] > 0 for g in set(latencies) - over)
    assert all(
        r["genotype"] not in over for r in ranked(read_candidates(tmp_path / "search.sqlite"))
    )


def test_the_strategy_hears_the_latency_aware_value(tmp_path: Path) -> None:
    objective = ObjectiveSettings("latency-aware", target_ms=30.0)
    out, strategy, _, _ = search(tmp_path, DESIGNS[:3], objective, FakeMeter())
    for (_, heard), row in zip(strategy.heard, out):
        assert heard == pytest.approx(row["reward"] * (row["latency_ms"] / 30.0) ** -0.07)


def test_a_latency_objective_without_a_meter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="latency meter"):
        search(tmp_path, DESIGNS, ObjectiveSettings(max_latency_ms=5.0), None)


class Clock:
    """A monotonic clock that only the fake candidates move (10 s each)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_time_budget_stops_before_a_generation_that_would_not_fit_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(loop_module.time, "monotonic", clock)
    counting = Counting()

    def ten_seconds(genotype, rule):
        clock.now += 10.0
        return counting(genotype, rule)

    accuracy = ObjectiveSettings()
    out, _, _, loop = search(
        tmp_path, DESIGNS, accuracy, None, ten_seconds, started=clock.now, time_budget=35.0
    )
    # 10 s + 10 s fit (20 <= 35), 30 s + 10 s do not: three candidates, a checkpoint after each
    assert len(out) == 3 and "time budget" in loop.stop_reason
    assert loop.next_index == 3
    again, _, _, resumed = search(
        tmp_path, DESIGNS, accuracy, None, ten_seconds, started=clock.now, time_budget=55.0
    )
    assert [r["genotype"] for r in again] == [str(d) for d in DESIGNS[:5]]
    assert resumed.stop_reason is not None and resumed.spent_seconds == pytest.approx(50.0)
    whole, _, _, _ = search(tmp_path / "whole", DESIGNS[:5], accuracy, None, Counting())
    assert [(r["genotype"], r["reward"]) for r in whole] == [
        (r["genotype"], r["reward"]) for r in again
    ]


def test_the_time_budget_keeps_time_back_for_rescoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(loop_module.time, "monotonic", clock)
    counting = Counting()  # its results say each candidate trained for 1 s

    def ten_seconds(genotype, rule):
        clock.now += 10.0
        return counting(genotype, rule)

    out, _, _, _ = search(
        tmp_path,
        DESIGNS,
        ObjectiveSettings(),
        None,
        ten_seconds,
        started=clock.now,
        time_budget=35.0,
        reserve_candidates=6,  # 6 x the mean 1 s of a candidate's recorded training
    )
    assert len(out) == 2  # 20 + 10 + 6 > 35
