"""The README's command tour matches the CLI: every command and option exists, and the cheap
commands run for real (on small inputs) with the output the README describes."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

import pytest

from segnas.cli import build_parser, main
from tests.fixtures.search_runs import MIXED, make_run

README = Path(__file__).resolve().parents[2] / "README.md"
TINY = "builtin:seed=0,size=32,train=8,val=4"
"""Stands in for `builtin` when a tour command runs for real: seconds, not minutes."""


def tour() -> list[str]:
    """The indented `segnas ...` lines of the README's command tour, comments dropped."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("\nCommands (") : text.index("\nEvery command that takes a design")]
    lines = [line.strip() for line in block.splitlines() if line.startswith("    segnas ")]
    return [line.split("  #")[0].strip() for line in lines]


def split(line: str) -> tuple[list[str], argparse.ArgumentParser, list[str]]:
    """(command words, its parser, the rest of the line) of one tour line."""
    words = shlex.split(line)[1:]
    parser, used = build_parser(), []
    while words:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or words[0] not in sub.choices:
            break
        used.append(words.pop(0))
        parser = sub.choices[used[-1]]
    return used, parser, words


def test_the_tour_lists_every_command() -> None:
    shown = {" ".join(split(line)[0]) for line in tour()}
    assert shown == {
        "describe",
        "draw",
        "space",
        "data check",
        "data preview",
        "evaluate",
        "teacher train",
        "search",
        "report",
        "dashboard",
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


@pytest.mark.parametrize("line", tour())
def test_every_tour_command_has_help_and_every_option_shown_exists(line: str, capsys) -> None:
    words, parser, rest = split(line)
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage: segnas " + " ".join(words))
    known = {flag for action in parser._actions for flag in action.option_strings}
    shown = set(re.findall(r"(?<![\w-])(-{1,2}[a-z][\w-]*)", " ".join(rest)))
    assert shown <= known, f"{line}: {sorted(shown - known)} not options of the command"


def run_line(line: str, **swap: str) -> int:
    """Run a tour line for real, each word of `swap` replaced (e.g. builtin -> a tiny set)."""
    words = [swap.get(word, word) for word in shlex.split(line)[1:]]
    return main(words)


def line_of(command: str) -> str:
    return next(line for line in tour() if line.startswith(f"segnas {command}"))


def test_cheap_tour_commands_run_as_shown(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEGNAS_CACHE", str(tmp_path / "cache"))

    assert run_line(line_of("describe")) == 0
    assert json.loads(capsys.readouterr().out)["params"] > 0

    assert run_line(line_of("draw")) == 0
    assert (tmp_path / "arch1.svg").read_text().lstrip().startswith("<")
    assert capsys.readouterr().out == "wrote arch1.svg\n"

    assert run_line(line_of("space")) == 0
    assert "networks (symmetry merged)" in capsys.readouterr().out

    assert run_line(line_of("data check"), builtin=TINY) == 0
    assert "8" in capsys.readouterr().out  # the sample count

    assert run_line(line_of("data preview"), builtin=TINY) == 0
    assert (tmp_path / "grid.png").read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()

    run_dir = tmp_path / "runs" / "search-TIME"
    make_run(run_dir, MIXED).close()
    report = line_of("report").replace(" [--json]", "")
    assert run_line(report) == 0
    assert (run_dir / "report.md").is_file()
    capsys.readouterr()
    assert run_line(report + " --json") == 0
    assert json.loads(capsys.readouterr().out)["best"]["id"] == 3
