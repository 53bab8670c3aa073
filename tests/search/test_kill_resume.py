"""Kill tests: SIGKILL a search at seeded moments, resume, and get exactly the uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from segnas.search.store import SearchStore
from tests.fixtures import fake_search
from tests.fixtures.fake_search import run_fake_search

SCRIPT = Path(fake_search.__file__)
BUDGET = 10


def killed_run(run_dir: Path, strategy: str, kill: str, generation: int = 1, workers: int = 1):
    command = [sys.executable, str(SCRIPT), str(run_dir), strategy, str(BUDGET), kill]
    env = {**os.environ, "GENERATION": str(generation), "WORKERS": str(workers)}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def rows(run_dir: Path) -> list[tuple]:
    store = SearchStore(run_dir / "search.sqlite")
    try:
        return [
            (
                r["id"],
                r["genotype"],
                r["status"],
                r["reward"],
                r["stage1_reward"],
                r["stage2_reward"],
                r["decision"],
            )
            for r in store.candidates()
        ]
    finally:
        store.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[tuple[str, int], list[tuple]]:
    out = {}
    runs = (("ppo", 1), ("random", 1), ("ppo", 4), ("evolution", 1), ("evolution", 4))
    for strategy, generation in runs:
        run_dir = tmp_path_factory.mktemp(f"reference-{strategy}-{generation}")
        run_fake_search(run_dir, strategy, BUDGET, generation)
        out[strategy, generation] = rows(run_dir)
    return out


# Ten seeded kill points for PPO: inside store writes (transaction open), right after a
# candidate starts, while a checkpoint is being written, right after a reward is fed back,
# and at random moments; plus one for random search and one for a 4-candidate generation;
# and two for evolution (population 4, so both after its random start), one and four at a time.
# `make test` keeps the finish, checkpoint and observe kill points of PPO one at a time and the
# generation kills of PPO and evolution; the rest run with `make test-slow`.
SLOW = pytest.mark.slow
KILLS = [("ppo", 1, k) for k in ("finish:2", "checkpoint:1", "observe:4")]
KILLS += [
    pytest.param("ppo", 1, k, marks=SLOW)
    for k in ("start:1", "start:6", "finish:8", "checkpoint:7", "observe:9")
]
KILLS += [
    pytest.param("ppo", 1, f"time:{random.Random(seed).uniform(3.2, 4.5):.3f}", marks=SLOW)
    for seed in (0, 1)
]
KILLS += [pytest.param("random", 1, "finish:5", marks=SLOW), ("ppo", 4, "finish:6")]
KILLS += [pytest.param("evolution", 1, "observe:7", marks=SLOW), ("evolution", 4, "finish:7")]


@pytest.mark.parametrize("strategy, generation, kill", KILLS)
def test_killed_and_resumed_run_equals_the_uninterrupted_one(
    strategy, generation, kill, reference, tmp_path
) -> None:
    killed = killed_run(tmp_path, strategy, kill, generation)
    if not kill.startswith("time:"):
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_fake_search(tmp_path, strategy, BUDGET, generation)
    got = rows(tmp_path)
    assert len(got) == BUDGET
    assert [r[0] for r in got] == list(range(BUDGET))
    assert got == reference[strategy, generation]


@pytest.mark.parametrize(
    "kill",
    ["finish:3", pytest.param("observe:6", marks=SLOW), pytest.param("checkpoint:2", marks=SLOW)],
)
def test_a_parallel_run_killed_and_resumed_in_parallel_is_exactly_once(
    kill, reference, tmp_path
) -> None:
    """Two worker processes; the search process dies (its workers with it) at a seeded point."""
    killed = killed_run(tmp_path, "evolution", kill, generation=4, workers=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_fake_search(tmp_path, "evolution", BUDGET, generation=4, workers=2)
    got = rows(tmp_path)
    assert got == reference["evolution", 4]
    store = SearchStore(tmp_path / "search.sqlite")
    try:
        attempts = [r["attempts"] for r in store.candidates()]
    finally:
        store.close()
    finished_before = sum(1 for a in attempts if a == 1)
    assert finished_before >= BUDGET - 4  # at most one generation ran again
