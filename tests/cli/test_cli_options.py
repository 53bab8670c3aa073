"""The shared options: one `--device`, settings resolved one way, every `--set` example valid."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from segnas.cli import build_parser, main
from segnas.cli.options import DEVICE_HELP, PrintSettings, resolve_settings
from segnas.cli.search import SHORTCUTS
from segnas.search.settings import SearchSettings
from segnas.settings_io import SettingsError, apply_overrides, dump_yaml
from tests.fixtures.search_runs import MIXED, make_run

COMPUTE = {
    "describe",
    "evaluate",
    "teacher train",
    "search",
    "train",
    "eval",
    "predict",
    "export",
    "bench",
    "experiment strategies",
    "experiment reward-noise",
    "experiment ablation",
    "experiment aux",
    "experiment correlation",
    "auto",
}
"""The commands that run a network, so take --device (the README lists the same)."""
NO_DEVICE = {"draw", "space", "data check", "data preview", "report", "dashboard"}


def commands(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every leaf command by its words (`experiment strategies`)."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= commands(sub, f"{prefix}{name} ")
    return found or {prefix.strip(): parser}


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_device_is_taken_by_exactly_the_commands_that_compute() -> None:
    found = commands(build_parser())
    assert set(found) == COMPUTE | NO_DEVICE
    for name, parser in found.items():
        device = option(parser, "--device")
        if name in COMPUTE:
            assert device is not None, name
            assert (device.default, device.help) == ("auto", DEVICE_HELP), name
        else:
            assert device is None, f"{name} accepts --device and would ignore it"


def test_every_set_example_is_a_valid_key_of_its_command() -> None:
    checked = 0
    for name, parser in commands(build_parser()).items():
        overrides = option(parser, "--set")
        if overrides is None:
            continue
        cls = option(parser, "--help-config")
        assert isinstance(cls, PrintSettings), f"{name}: --set without --help-config"
        example = overrides.help.split("e.g. ")[1].split()[0]
        settings = apply_overrides(cls.settings_class(), [example])  # raises if invalid
        assert settings != cls.settings_class(), f"{name}: {example} changes nothing"
        checked += 1
    assert checked == 13  # evaluate, teacher, search, train, eval, predict, export, auto, 5 exp.


def parse_search(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["search", *argv])


def test_layers_apply_defaults_preset_config_shortcuts_then_set(tmp_path: Path) -> None:
    config = tmp_path / "s.yaml"
    config.write_text("budget: 7\nseed: 3\nevaluation:\n  stage1:\n    epochs: 2\n")
    args = parse_search(["--preset", "proxy", "--config", str(config), "--budget", "9"])
    settings = resolve_settings(SearchSettings, args, SHORTCUTS)
    assert (settings.budget, settings.seed, settings.evaluation.stage1.epochs) == (9, 3, 2)
    assert settings.train_count == 128  # from the preset, untouched by the file
    args = parse_search(["--config", str(config), "--budget", "9", "--set", "budget=11"])
    assert resolve_settings(SearchSettings, args, SHORTCUTS).budget == 11  # --set is last
    assert resolve_settings(SearchSettings, parse_search([]), SHORTCUTS) == SearchSettings()


def test_worker_and_reuse_options_reach_the_settings() -> None:
    args = parse_search(["--workers", "3", "--threads-per-worker", "2", "--generation", "4"])
    settings = resolve_settings(SearchSettings, args, SHORTCUTS)
    assert (settings.workers, settings.threads_per_worker, settings.generation) == (3, 2, 4)
    assert settings.reuse is True
    assert resolve_settings(SearchSettings, parse_search(["--no-reuse"]), SHORTCUTS).reuse is False
    with pytest.raises(ValueError, match="workers"):
        resolve_settings(SearchSettings, parse_search(["--workers", "0"]), SHORTCUTS)


def test_a_base_replaces_the_defaults(tmp_path: Path) -> None:
    stored = SearchSettings(budget=5, seed=4)
    args = parse_search(["--set", "budget=6"])
    settings = resolve_settings(SearchSettings, args, SHORTCUTS, base=stored)
    assert (settings.budget, settings.seed) == (6, 4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--budget", "-1"], "budget: got -1, expected >= 1"),
        (["--set", "budget=0"], "budget: got 0, expected >= 1"),
        (["--set", "evaluation.stage1.epochs=x"], "evaluation.stage1.epochs: expected int"),
    ],
)
def test_shortcuts_and_set_are_validated(argv: list[str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        resolve_settings(SearchSettings, parse_search(argv), SHORTCUTS)


def test_search_with_a_bad_budget_exits_2_before_any_work(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    code = main(["search", "--budget", "-1", "--run-dir", str(run_dir), "--device", "cpu"])
    assert code == 2
    assert "budget: got -1, expected >= 1" in capsys.readouterr().err
    assert not run_dir.exists()


def test_export_takes_config_and_set(tmp_path: Path, capsys) -> None:
    config = tmp_path / "export.yaml"
    config.write_text("size: 16\n")
    code = main(["export", "model.pt", "-o", "x.onnx", "--config", str(config)])
    assert code == 2
    assert "size: got 16, expected >= 32" in capsys.readouterr().err
    assert main(["export", "model.pt", "-o", "x.onnx", "--set", "opset=5"]) == 2
    assert "opset: got 5, expected >= 17" in capsys.readouterr().err


def test_resume_layers_options_on_the_stored_settings(tmp_path: Path, monkeypatch) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dump_yaml(SearchSettings(budget=5, seed=4, teacher="none"), run_dir / "config.yaml")
    seen = {}

    def fake_run_search(settings, where, **kw):
        seen.update(settings=settings, run_dir=where, **kw)
        raise FileExistsError("stop here")  # exit 2 before the report

    monkeypatch.setattr("segnas.search.run.run_search", fake_run_search)
    argv = ["search", "--resume", str(run_dir), "--set", "budget=8", "--override"]
    assert main([*argv, "--device", "cpu"]) == 2
    assert (seen["settings"].budget, seen["settings"].seed) == (8, 4)
    assert seen["settings"].teacher == "none"
    assert (seen["run_dir"], seen["resume"], seen["override"]) == (run_dir, True, True)
    assert seen["device"] == "cpu"
    assert main(["search", "--override"]) == 2  # nothing to resume


def test_resume_refuses_changed_settings_one_line_per_field(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    make_run(run_dir, MIXED).close()  # stored: budget 8, strategy random
    before = (run_dir / "config.yaml").read_bytes()
    argv = ["search", "--resume", str(run_dir), "--set", "budget=9", "--strategy", "ppo"]
    assert main([*argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "budget: run has 8, now 9" in err
    assert "strategy: run has 'random', now 'ppo'" in err
    assert "--override" in err
    assert (run_dir / "config.yaml").read_bytes() == before
