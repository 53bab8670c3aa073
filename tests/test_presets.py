"""Shipped presets: listed, loaded under --config and --set, refused by name when unknown."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from segnas.cli.options import add_settings, resolve_settings
from segnas.presets import preset_names, preset_text
from segnas.search.settings import SearchSettings
from segnas.settings_io import SettingsError


def parse(argv: list[str]) -> SearchSettings:
    parser = argparse.ArgumentParser()
    add_settings(parser, SearchSettings, example="budget=3", presets=True)
    return resolve_settings(SearchSettings, parser.parse_args(argv))


def test_shipped_presets_are_documented_and_valid() -> None:
    assert {"proxy", "paper"} <= set(preset_names())
    for name in preset_names():
        assert preset_text(name).startswith(f"# {name}:")
        parse(["--preset", name])


def test_proxy_and_paper_change_what_they_say() -> None:
    default, proxy, paper = parse([]), parse(["--preset", "proxy"]), parse(["--preset", "paper"])
    assert proxy.train_count < default.train_count
    assert proxy.evaluation.stage1.batch_size == 16
    assert proxy.evaluation.crop_size == default.evaluation.crop_size
    assert paper.ppo.lr == 1e-4 and not paper.ppo.normalize_advantages
    assert paper.termination.anneal_over == 1000
    assert not paper.evaluation.polyak_warmup and not paper.evaluation.common_random_numbers


def test_config_file_and_set_apply_over_the_preset(tmp_path: Path) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text("evaluation:\n  stage1:\n    epochs: 7\n")
    config = parse(["--preset", "proxy", "--config", str(file), "--set", "val_count=50"])
    assert config.evaluation.stage1.epochs == 7  # the file wins over the preset...
    assert config.evaluation.stage1.batch_size == 16  # ...only where it says something
    assert config.train_count == 128 and config.val_count == 50


def test_unknown_preset_is_refused_with_the_known_names() -> None:
    from segnas.presets import preset_data

    with pytest.raises(SettingsError, match="proxy"):
        preset_data("fast")
    with pytest.raises(SystemExit):
        parse(["--preset", "fast"])
