"""Worker processes: the plan from the cores, the same rows for any worker count, a worker that
dies mid-candidate, and the contention settings in force inside every worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from segnas.genotype import Genotype
from segnas.search.store import SearchStore
from segnas.search.workers import ProcessExecutor, WorkerPlan, plan_workers
from segnas.train.result import CandidateResult, ContinueRule
from tests.fixtures.fake_search import fake_evaluator, run_fake_search


@pytest.mark.parametrize(
    "workers, threads, device, cores, expected",
    [
        (None, None, "cpu", 2, (2, 1)),
        (None, None, "cpu", 16, (16, 1)),
        (None, 4, "cpu", 16, (4, 4)),
        (None, 3, "cpu", 2, (1, 3)),
        (4, None, "cpu", 16, (4, 4)),
        (3, None, "cpu", 2, (3, 1)),
        (None, None, "cuda", 8, (1, 8)),
        (2, 2, "cuda", 8, (2, 2)),
    ],
)
def test_the_plan_fills_the_cores(workers, threads, device, cores, expected) -> None:
    plan = plan_workers(workers, threads, device_type=device, cores=cores)
    assert (plan.workers, plan.threads) == expected


def test_a_plan_refuses_zero_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="threads_per_worker: got 0"):
        plan_workers(2, 0, cores=2)


def rows(run_dir: Path) -> list[tuple]:
    store = SearchStore(run_dir / "search.sqlite")
    try:
        keep = ("id", "genotype", "status", "reward", "stage1_reward", "decision", "reused_from")
        return [tuple(r[k] for k in keep) for r in store.candidates()]
    finally:
        store.close()


def test_two_workers_give_the_rows_of_one(tmp_path: Path) -> None:
    run_fake_search(tmp_path / "one", "evolution", 12, generation=3, workers=1)
    run_fake_search(tmp_path / "two", "evolution", 12, generation=3, workers=2)
    assert len(rows(tmp_path / "one")) == 12
    assert rows(tmp_path / "two") == rows(tmp_path / "one")


class DiesOnce:
    """Kills its own worker process the first `times` it meets a design (a marker file per
    attempt, as a crash would: the worker's memory does not survive)."""

    def __init__(self, marker_dir: Path, times: int) -> None:
        self.marker_dir, self.times = marker_dir, times

    def __call__(self, genotype: Genotype, rule: ContinueRule) -> CandidateResult:
        if genotype.first_op % 2 == 0:
            attempts = len(list(self.marker_dir.glob(f"{genotype.first_op}-*")))
            if attempts < self.times:
                (self.marker_dir / f"{genotype.first_op}-{attempts}").touch()
                os._exit(17)
        return fake_evaluator(genotype, rule)


def designs() -> list[Genotype]:
    import random

    from segnas.genotype import DEFAULT_SPACE, sample

    rng = random.Random(5)
    out = [sample(rng, DEFAULT_SPACE) for _ in range(4)]
    assert any(g.first_op % 2 == 0 for g in out) and any(g.first_op % 2 for g in out)
    return out


def always(reward: float) -> bool:
    return True


@pytest.fixture(scope="module")
def executor():
    ex = ProcessExecutor(WorkerPlan(2, 1))
    yield ex
    ex.shutdown()


def test_a_worker_that_dies_once_is_replaced_and_its_candidate_runs_again(
    executor, tmp_path: Path
) -> None:
    jobs = [(g, always) for g in designs()]
    finished = []
    results = executor.run(DiesOnce(tmp_path, 1), jobs, lambda k, r: finished.append(k))
    expected = [fake_evaluator(g, always) for g, _ in jobs]
    assert [r.to_dict() for r in results] == [r.to_dict() for r in expected]
    assert sorted(finished) == list(range(len(jobs)))  # each stored once, as it finished


@pytest.mark.slow  # make test: a worker that dies once is replaced (below)
def test_a_candidate_whose_worker_dies_twice_fails_and_the_rest_go_on(
    executor, tmp_path: Path
) -> None:
    jobs = [(g, always) for g in designs()]
    results = executor.run(DiesOnce(tmp_path, 2), jobs)
    for (genotype, _), result in zip(jobs, results):
        if genotype.first_op % 2 == 0:
            assert result.status == "failed"
            assert "worker process died (exit code 17) 2 times" in result.failure
        else:
            assert result.to_dict() == fake_evaluator(genotype, always).to_dict()


def report_settings(genotype: Genotype, rule: ContinueRule) -> CandidateResult:
    """Returns, as its failure text, what a worker runs with."""
    policy = os.environ.get("OMP_WAIT_POLICY")
    return CandidateResult(str(genotype), failure=f"{policy} {torch.get_num_threads()}")


def test_workers_wait_passively_with_their_share_of_threads() -> None:
    executor = ProcessExecutor(WorkerPlan(2, 1))
    try:
        results = executor.run(report_settings, [(g, always) for g in designs()[:2]])
    finally:
        executor.shutdown()
    assert [r.failure for r in results] == ["PASSIVE 1", "PASSIVE 1"]


def test_segnas_sets_passive_waiting_before_torch_starts() -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, segnas; print(os.environ['OMP_WAIT_POLICY'])"  # set before torch loads
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "PASSIVE", out.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's own setting wins
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ACTIVE", out.stderr


class Unpicklable:
    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise RuntimeError("cannot be rebuilt in a worker (injected)")


def test_a_worker_that_cannot_start_raises_instead_of_retrying_forever() -> None:
    executor = ProcessExecutor(WorkerPlan(1, 1))
    try:
        with pytest.raises(RuntimeError, match="died while starting"):
            executor.run(Unpicklable(), [(designs()[0], always)])
    finally:
        executor.shutdown()
