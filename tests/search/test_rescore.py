"""Re-scoring the leading designs: which designs, which seeds, and resumable."""

from __future__ import annotations

from pathlib import Path

import pytest

from segnas.genotype import ARCH0, ARCH1, ARCH2
from segnas.search.rescore import fresh_seeds, load_rescore, rescore_run, rescored_best
from segnas.search.store import ranked


def row(index: int, genotype, reward: float, status: str = "done") -> dict:
    return {"id": index, "genotype": str(genotype), "reward": reward, "status": status}


ROWS = [
    row(0, ARCH0, 0.30),
    row(1, ARCH1, 0.50),
    row(2, ARCH2, 0.10, "failed"),
    row(3, ARCH0, 0.40),  # the same design drawn again: re-scored once, as its best row
    row(4, ARCH2, 0.20, "stopped-after-stage-1"),
]


def test_top_rows_are_distinct_scored_designs_best_first() -> None:
    assert [r["id"] for r in ranked(ROWS, distinct=True)[:5]] == [1, 3, 4]
    assert [r["id"] for r in ranked(ROWS, distinct=True)[:1]] == [1]


def test_fresh_seeds_are_paired_by_run_seed_and_unused() -> None:
    assert fresh_seeds(5, 2) == fresh_seeds(5, 2)
    assert set(fresh_seeds(5, 2)).isdisjoint(fresh_seeds(6, 2))
    assert all(s > 1000 for s in fresh_seeds(0, 3))


def test_rescore_means_and_resume(tmp_path: Path) -> None:
    calls = []

    def scorer(genotype, seed):
        calls.append((str(genotype), seed))
        return 0.25 if genotype == ARCH1 else 0.35 + (seed % 2) / 10

    out = rescore_run(tmp_path, ROWS, scorer, top=2, seeds=[10, 11])
    assert [d["id"] for d in out["designs"]] == [1, 3]
    assert out["designs"][1]["rewards"] == pytest.approx([0.35, 0.45])
    assert out["designs"][1]["mean"] == pytest.approx(0.4)
    best = rescored_best(load_rescore(tmp_path))
    assert best["id"] == 3  # the search's best draw (#1) loses once re-scored
    assert len(calls) == 4
    rescore_run(tmp_path, ROWS, scorer, top=3, seeds=[10, 11])  # only the new design runs
    assert len(calls) == 6
    rescore_run(tmp_path, ROWS, scorer, top=3, seeds=[20, 21])  # other seeds: all again
    assert len(calls) == 12


def test_run_dir_best_names_the_rescored_best(tmp_path: Path) -> None:
    """`RUN_DIR:best` follows the re-scoring; `RUN_DIR:1` stays the search's own ranking."""
    from segnas.final.arch_ref import resolve_arch
    from segnas.report.run_report import report_json
    from segnas.search.store import SearchStore
    from segnas.train.result import CandidateResult

    store = SearchStore(tmp_path / "search.sqlite")
    for index, genotype, reward in ((0, ARCH0, 0.3), (1, ARCH1, 0.5), (2, ARCH2, 0.4)):
        store.start(index, str(genotype))
        store.finish(index, CandidateResult(str(genotype), "done", reward, reward, reward), None)
    rows = store.candidates()
    store.close()
    assert resolve_arch(f"{tmp_path}:best").genotype == ARCH1  # not re-scored yet
    rescore_run(tmp_path, rows, lambda g, s: 0.6 if g == ARCH2 else 0.2, top=2, seeds=[7])
    assert resolve_arch(f"{tmp_path}:best").genotype == ARCH2
    assert resolve_arch(f"{tmp_path}:1").genotype == ARCH1
    summary = report_json(tmp_path)
    assert summary["best"]["id"] == 1 and summary["rescored_best"]["id"] == 2
