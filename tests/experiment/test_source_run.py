"""A search run as an experiment's source: its scored designs, and the same network written
twice (equal parameters, multiply-adds and rewards under common random numbers) merged."""

from __future__ import annotations

from pathlib import Path

import pytest

from segnas.experiment.source_run import load_source, trained_longer
from segnas.search.store import NotASearchRun
from tests.experiment.retrain_fixtures import make_source_run

SPECS = [("done", 0.30), ("done", 0.42), ("done", 0.42), ("stopped", 0.20), ("failed", 0.0)]
"""Candidates 1 and 2 draw the same rewards with the same costs: one network, two encodings."""


def test_scored_designs_and_merged_twins(tmp_path: Path) -> None:
    genotypes = make_source_run(tmp_path / "run", SPECS)
    source = load_source(tmp_path / "run")
    assert [r["id"] for r in source.scored()] == [1, 2, 0, 3]  # best first, failed left out
    merged = source.scored(merge_same_results=True)
    assert [r["id"] for r in merged] == [1, 0, 3]
    assert merged[0]["genotype"] == genotypes[1]


def test_not_a_search_run_and_longer_settings(tmp_path: Path) -> None:
    with pytest.raises(NotASearchRun, match="no config.yaml"):
        load_source(tmp_path)
    make_source_run(tmp_path / "run", SPECS)
    evaluation = load_source(tmp_path / "run").settings.evaluation
    longer = trained_longer(evaluation, 7)
    assert longer.stage2.epochs == 7 and longer.stage1 == evaluation.stage1
    with pytest.raises(ValueError, match="--epochs"):
        trained_longer(evaluation, 0)
