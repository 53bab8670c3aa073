"""The Ray executor on a local two-CPU Ray instance: same run as local, failures contained."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from segnas.genotype import DEFAULT_SPACE, Genotype
from segnas.search.early_stop import ProgressiveTermination, TerminationSettings
from segnas.search.loop import LocalExecutor, SearchLoop
from segnas.search.strategies import make_strategy
from segnas.train.result import CandidateResult
from tests.fixtures.fake_search import fake_evaluator

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray instance takes tens of seconds to start
HERE = Path(__file__).parent
WORKER_PATH = os.pathsep.join([str(HERE), str(HERE.parents[1])])
"""Workers import this module (its evaluators) and `tests.fixtures` from the repository root."""


def raising_evaluator(genotype: Genotype, rule) -> CandidateResult:
    if genotype.connectivity[0][0] == 0:
        raise RuntimeError("worker blew up (injected)")
    return fake_evaluator(genotype, rule)


@pytest.fixture(scope="module")
def executor():
    from segnas.search.ray_executor import RayExecutor

    ex = RayExecutor(num_cpus=2, runtime_env={"env_vars": {"PYTHONPATH": WORKER_PATH}}, retries=0)
    yield ex
    ex.shutdown()


def search(run_dir: Path, evaluator, executor) -> list[dict]:
    loop = SearchLoop(
        run_dir,
        make_strategy("ppo", DEFAULT_SPACE, seed=1),
        ProgressiveTermination(TerminationSettings(anneal_over=1000), seed=1),
        evaluator,
        budget=8,
        generation=4,
        executor=executor,
    )
    try:
        return loop.run()
    finally:
        loop.close()


def strip(rows: list[dict]) -> list[tuple]:
    return [(r["id"], r["genotype"], r["status"], r["reward"]) for r in rows]


def test_ray_search_equals_the_local_run(executor, tmp_path) -> None:
    on_ray = search(tmp_path / "ray", fake_evaluator, executor)
    local = search(tmp_path / "local", fake_evaluator, LocalExecutor())
    assert len(on_ray) == 8
    assert strip(on_ray) == strip(local)


def test_a_raising_task_fails_its_candidate_and_the_search_goes_on(executor, tmp_path) -> None:
    rows = search(tmp_path / "raising", raising_evaluator, executor)
    assert len(rows) == 8
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed, "the seeded run should propose a design that starts from tap 0"
    assert all("worker blew up (injected)" in r["failure"] for r in failed)
    assert all(r["failure"].startswith("ray task failed") for r in failed)
    assert any(r["status"] != "failed" for r in rows)
