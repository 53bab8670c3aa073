"""The search's inner loop: the run's seed reaches every candidate, the split is computed once."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

import segnas.search.run as run_module
from segnas.data import open_dataset
from segnas.data.split import load_split
from segnas.genotype import ARCH0
from segnas.search.run import SearchEvaluator, prepare
from segnas.search.settings import SearchSettings
from segnas.train.result import CandidateResult
from segnas.train.search_data import search_split
from segnas.train.settings import CandidateSettings


def test_candidates_get_the_run_seed_and_rescoring_its_fresh_seeds(monkeypatch) -> None:
    calls = []

    def fake(genotype, settings, data, *, seed, should_continue=None):
        calls.append((str(genotype), seed, should_continue))
        return CandidateResult(str(genotype), status="done", reward=0.25)

    monkeypatch.setattr(run_module, "evaluate_candidate", fake)
    evaluator = SearchEvaluator(CandidateSettings(), data=None, seed=7)  # type: ignore[arg-type]

    def rule(reward: float) -> bool:
        return True

    assert evaluator(ARCH0, rule).reward == 0.25
    assert evaluator.score(ARCH0, 1234) == 0.25
    assert calls == [(str(ARCH0), 7, rule), (str(ARCH0), 1234, None)]


def test_the_saved_split_is_the_one_trained_on(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEGNAS_CACHE", str(tmp_path / "cache"))
    config = SearchSettings(
        data="builtin:size=32,train=40,val=8",
        teacher="none",
        encoder_weights="none",
        train_count=20,
        val_count=3,
        seed=3,
    )
    data = prepare(config, tmp_path, "cpu", Console(quiet=True))
    train_ids, val_ids = load_split(tmp_path / "split.json")
    ids = open_dataset(config.data).ids
    assert (len(train_ids), len(val_ids)) == (20, 3)
    assert (len(data.train_masks), len(data.val_masks)) == (20, 3)
    assert (data.identity["train"], data.identity["val"], data.identity["seed"]) == (20, 3, 3)
    assert set(train_ids).isdisjoint(val_ids)
    assert (train_ids, val_ids) == search_split(ids, 0.1, 3, 20, 3)
    assert (train_ids, val_ids) != search_split(ids, 0.1, 0, 20, 3)  # the run's seed moved it
