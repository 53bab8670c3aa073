"""A search whose candidates keep failing stops with their reasons and resumes once fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from segnas.genotype import DEFAULT_SPACE, Genotype
from segnas.search.early_stop import ProgressiveTermination, TerminationSettings
from segnas.search.loop import SearchLoop, TooManyFailures
from segnas.search.store import SearchStore
from segnas.search.strategies import make_strategy
from segnas.train.result import CandidateResult, ContinueRule


def broken(genotype: Genotype, rule: ContinueRule) -> CandidateResult:
    return CandidateResult(str(genotype), failure="RuntimeError: CUDA driver missing (injected)")


def working(genotype: Genotype, rule: ContinueRule) -> CandidateResult:
    reward = genotype.first_op / 10
    return CandidateResult(str(genotype), "done", reward, reward, reward)


def flaky(genotype: Genotype, rule: ContinueRule) -> CandidateResult:
    """Fails every other design by its first op: never five in a row for these seeds."""
    return broken(genotype, rule) if genotype.first_op % 2 else working(genotype, rule)


def loop(run_dir: Path, evaluator, budget: int = 12, limit: int | None = 5) -> SearchLoop:
    return SearchLoop(
        run_dir,
        make_strategy("random", DEFAULT_SPACE, seed=0),
        ProgressiveTermination(TerminationSettings(), seed=0, budget=budget),
        evaluator,
        budget=budget,
        max_consecutive_failures=limit,
    )


def statuses(run_dir: Path) -> list[str]:
    store = SearchStore(run_dir / "search.sqlite")
    try:
        return [r["status"] for r in store.candidates()]
    finally:
        store.close()


def test_five_failures_in_a_row_stop_the_search_and_name_the_reasons(tmp_path: Path) -> None:
    search = loop(tmp_path, broken)
    with pytest.raises(TooManyFailures) as caught:
        search.run()
    search.close()
    message = str(caught.value)
    assert "5 candidates in a row failed" in message
    assert message.count("CUDA driver missing (injected)") == 5
    assert f"segnas search --resume {tmp_path}" in message
    assert [index for index, _ in caught.value.streak] == [0, 1, 2, 3, 4]
    assert statuses(tmp_path) == ["failed"] * 5  # recorded, not lost

    resumed = loop(tmp_path, working)  # the cause is fixed
    assert resumed.next_index == 5
    rows = resumed.run()
    resumed.close()
    assert [r["id"] for r in rows] == list(range(12))
    assert [r["status"] for r in rows] == ["failed"] * 5 + ["done"] * 7


def test_failures_that_are_not_consecutive_do_not_stop(tmp_path: Path) -> None:
    search = loop(tmp_path, flaky, budget=20)
    rows = search.run()
    search.close()
    assert len(rows) == 20
    assert 0 < sum(r["status"] == "failed" for r in rows) < 20


def test_the_stop_can_be_switched_off(tmp_path: Path) -> None:
    search = loop(tmp_path, broken, budget=8, limit=None)
    rows = search.run()
    search.close()
    assert [r["status"] for r in rows] == ["failed"] * 8
