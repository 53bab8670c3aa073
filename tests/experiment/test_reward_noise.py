"""Reward-noise statistics: ICCs against hand-computed values, Spearman, resumable grids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segnas.experiment.reward_noise import (
    intraclass_correlation,
    random_designs,
    score_grid,
    spearman,
    summarize_presets,
)


def test_icc_of_a_perfectly_consistent_table_is_one() -> None:
    designs = np.array([0.1, 0.2, 0.3, 0.5])
    seed_shift = np.array([0.0, 0.05, -0.02])
    grid = designs[:, None] + seed_shift[None, :]  # every seed moves every design alike
    icc = intraclass_correlation(grid)
    assert icc["icc_consistency"] == pytest.approx(1.0)
    assert icc["icc1"] < 1.0  # the seed shift counts as noise for absolute agreement


def test_icc_matches_a_textbook_example() -> None:
    """Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(1,1) .17, ICC(3,1) .71."""
    grid = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    icc = intraclass_correlation(grid)
    assert icc["icc1"] == pytest.approx(0.17, abs=0.005)
    assert icc["icc_consistency"] == pytest.approx(0.71, abs=0.005)


def test_icc_needs_two_by_two() -> None:
    with pytest.raises(ValueError, match="at least 2 x 2"):
        intraclass_correlation([[0.1, 0.2]])


def test_spearman_and_preset_summary() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    grids = {"proxy": [[0.1, 0.12], [0.3, 0.28], [0.2, 0.2]], "default": [[1, 1], [3, 3], [2, 2]]}
    summary = summarize_presets(grids)
    assert summary["spearman"]["proxy vs default"] == pytest.approx(1.0)
    assert summary["presets"]["proxy"]["designs"] == 3
    assert summary["presets"]["default"]["icc_consistency"] == pytest.approx(1.0)


def test_random_designs_are_distinct_and_repeatable() -> None:
    designs = random_designs(12)
    assert len({d.normalized() for d in designs}) == 12
    assert [str(d) for d in designs] == [str(d) for d in random_designs(12)]


def test_score_grid_resumes_without_rescoring(tmp_path: Path) -> None:
    designs = random_designs(3)
    calls: list[tuple[str, int]] = []

    def scorer(genotype, seed):
        calls.append((str(genotype), seed))
        return genotype.first_op / 10 + seed / 100

    path = tmp_path / "scores.json"
    grid = score_grid(path, designs, [0, 1], scorer)
    assert len(calls) == 6
    assert grid[1][1] == pytest.approx(designs[1].first_op / 10 + 0.01)
    again = score_grid(path, designs, [0, 1, 2], scorer)  # one more seed: only it runs
    assert len(calls) == 9 and [row[:2] for row in again] == grid
    assert len(json.loads(path.read_text())["scores"]) == 9


def test_one_seed_gives_ranks_but_no_icc() -> None:
    summary = summarize_presets({"a": [[0.1], [0.3], [0.2]], "b": [[1.0], [2.0], [3.0]]})
    assert summary["presets"]["a"]["icc1"] is None
    assert summary["spearman"]["a vs b"] == pytest.approx(0.5)
