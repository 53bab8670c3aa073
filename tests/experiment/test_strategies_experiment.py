"""`segnas experiment strategies` plumbing: seeds and names parsed, runs paired, settings kept."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from segnas.cli.experiment import parse_seeds, parse_strategies
from segnas.experiment.strategies import check_base, run_config
from segnas.run_dir import ResumeError
from segnas.search.settings import SearchSettings
from segnas.settings_io import dump_yaml


def test_seed_lists_and_ranges() -> None:
    assert parse_seeds("5-9") == [5, 6, 7, 8, 9]
    assert parse_seeds("0,3, 4") == [0, 3, 4]
    assert parse_seeds("2") == [2]
    for bad in ("9-5", "a", "1,1"):
        with pytest.raises(argparse.ArgumentTypeError, match="--seeds"):
            parse_seeds(bad)


def test_strategy_names_are_checked() -> None:
    assert parse_strategies("ppo, random") == ["ppo", "random"]
    with pytest.raises(argparse.ArgumentTypeError, match="annealing"):
        parse_strategies("ppo,annealing")


def test_one_seed_fixes_split_views_and_training_luck_for_every_strategy() -> None:
    base = SearchSettings()
    a, b = run_config(base, "ppo", 7, 100), run_config(base, "random", 7, 100)
    assert (a.seed, a.evaluation, a.budget) == (b.seed, b.evaluation, b.budget)
    assert a.seed == 7 and a.evaluation == base.evaluation  # the run's one seed seeds candidates
    assert dataclasses.replace(a, strategy="random") == b


def test_an_experiment_refuses_runs_with_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "base-config.yaml"
    base = SearchSettings(train_count=128)
    check_base(path, base)  # nothing stored yet
    dump_yaml(base, path)
    check_base(path, base)  # the same settings
    with pytest.raises(ResumeError, match="train_count: experiment has 128, now 300"):
        check_base(path, SearchSettings())
