"""Reuse: a design the run already scored is not trained again, is written once as a copy, fed
back once, left out of rankings, and resumes exactly; `reuse=False` trains every proposal."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from segnas.genotype import Genotype, resolve
from segnas.search.early_stop import ProgressiveTermination, TerminationSettings
from segnas.search.loop import SearchLoop
from segnas.search.store import SearchStore, ranked, read_candidates, summary
from segnas.train.result import CandidateResult, ContinueRule
from tests.fixtures.scripted import Counting, Scripted, mirrored

ARCH0, ARCH1 = resolve("arch0"), resolve("arch1")


def run(run_dir: Path, designs, *, budget=None, generation=1, reuse=True, evaluator=None):
    strategy, evaluator = Scripted(designs), evaluator or Counting()
    termination = ProgressiveTermination(TerminationSettings(anneal_over=100), seed=0)
    loop = SearchLoop(
        run_dir,
        strategy,
        termination,
        evaluator,
        budget=budget or len(designs),
        generation=generation,
        reuse=reuse,
    )
    try:
        rows = loop.run()
    finally:
        loop.close()
    return rows, strategy, evaluator, termination


def test_a_scored_design_and_its_mirror_are_copied_not_trained(tmp_path: Path) -> None:
    designs = [ARCH0, ARCH1, ARCH0, mirrored(ARCH1)]
    rows, strategy, evaluator, termination = run(tmp_path, designs)
    assert evaluator.calls == [str(ARCH0), str(ARCH1)]
    assert [r["reused_from"] for r in rows] == [None, None, 0, 1]
    assert rows[3]["genotype"] == str(mirrored(ARCH1))  # the row keeps its own encoding
    assert rows[3]["reward"] == rows[1]["reward"] and rows[3]["seconds"] == {}
    assert rows[3]["decision"] is None and rows[1]["decision"] is not None
    assert [r for _, r in strategy.heard] == [r["reward"] for r in rows]  # fed back once each
    assert termination.count == 2  # the copies are not new samples of the stage-1 reward
    assert [r["id"] for r in ranked(rows)] == sorted([0, 1], key=lambda i: -rows[i]["reward"])
    assert summary(rows)["best"]["reused_from"] is None


def test_equal_designs_in_one_generation_train_once(tmp_path: Path) -> None:
    rows, _, evaluator, _ = run(tmp_path, [ARCH0, mirrored(ARCH0), ARCH1], generation=3)
    assert evaluator.calls == [str(ARCH0), str(ARCH1)]
    assert [r["reused_from"] for r in rows] == [None, 0, None]


def test_a_failed_design_is_trained_again_in_a_later_generation(tmp_path: Path) -> None:
    outcomes = iter(["failed", "done"])

    def flaky(genotype: Genotype, rule: ContinueRule) -> CandidateResult:
        if next(outcomes) == "failed":
            return CandidateResult(str(genotype), failure="RuntimeError: out of memory")
        return CandidateResult(str(genotype), "done", 0.5, 0.5, 0.5)

    rows, *_ = run(tmp_path, [ARCH0, ARCH0], evaluator=flaky)
    assert [r["status"] for r in rows] == ["failed", "done"]
    assert [r["reused_from"] for r in rows] == [None, None]


def test_no_reuse_trains_every_proposal_and_rescoring_still_sees_each_design_once(
    tmp_path: Path,
) -> None:
    rows, _, evaluator, _ = run(tmp_path, [ARCH0, ARCH0, mirrored(ARCH0), ARCH1], reuse=False)
    assert len(evaluator.calls) == 4
    assert [r["reused_from"] for r in rows] == [None, None, None, None]
    assert len(ranked(rows)) == 4
    assert sorted(r["id"] for r in ranked(rows, distinct=True)) == [0, 3]


def test_a_resumed_run_reuses_as_the_uninterrupted_one(tmp_path: Path) -> None:
    designs = [ARCH0, ARCH1, resolve("arch2"), ARCH0, mirrored(ARCH1), ARCH1]
    whole, *_ = run(tmp_path / "whole", designs)
    run(tmp_path / "split", designs, budget=3)
    rows, _, evaluator, _ = run(tmp_path / "split", designs, budget=6)
    assert evaluator.calls == []  # the resumed half only copied
    strip = ["id", "genotype", "status", "reward", "decision", "reused_from"]
    assert [[r[k] for k in strip] for r in rows] == [[r[k] for k in strip] for r in whole]


def test_an_older_store_gains_the_reused_from_column(tmp_path: Path) -> None:
    path = tmp_path / "search.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE candidates (id INTEGER PRIMARY KEY, genotype TEXT NOT NULL,"
        " status TEXT NOT NULL, reward REAL, stage1_reward REAL, stage2_reward REAL,"
        " stage1_metrics TEXT, stage2_metrics TEXT, params INTEGER, madds INTEGER,"
        " seconds TEXT, decision TEXT, failure TEXT, traceback TEXT,"
        " attempts INTEGER NOT NULL DEFAULT 1, started_at REAL NOT NULL, finished_at REAL)"
    )
    db.execute(
        "INSERT INTO candidates (id, genotype, status, started_at) VALUES (0, 'g', 'done', 1)"
    )
    db.commit()
    db.close()
    assert read_candidates(path)[0]["reused_from"] is None  # read-only: not migrated, filled
    assert "reused_from" not in {
        row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(candidates)")
    }
    store = SearchStore(path)
    try:
        assert store.candidates()[0]["reused_from"] is None
    finally:
        store.close()
