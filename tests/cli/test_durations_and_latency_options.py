"""`--time-budget` durations and the latency options of `segnas search`, resolved to settings."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segnas.cli import build_parser
from segnas.cli.options import parse_duration, resolve_settings
from segnas.cli.search import SHORTCUTS
from segnas.search.settings import SearchSettings


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("90m", 5400),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("45s", 45),
        ("600", 600),
        ("1h 2m 3s", 3723),
        (" 10M ", 600),
    ],
)
def test_durations_in_hours_minutes_and_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "2x", "1h1h", "-5m", "0", "5m10", "1e3", "2 hours"])
def test_anything_else_is_refused_with_what_was_expected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected a duration"):
        parse_duration(text)


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
def test_compound_durations_add_up(h: int, m: int, s: int) -> None:
    parts = [f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v]
    if not parts:
        return
    assert parse_duration("".join(parts)) == h * 3600 + m * 60 + s


def test_latency_options_set_the_objective_the_measurement_and_the_time_budget() -> None:
    argv = [
        "search",
        "--max-latency-ms",
        "80",
        "--objective",
        "latency-aware",
        "--latency-target",
        "onnxruntime-cpu",
        "--latency-size",
        "256",
        "--latency-threads",
        "1",
        "--time-budget",
        "1h30m",
        "--latency-weight",
        "-0.1",
    ]
    args = build_parser().parse_args(argv)
    settings = resolve_settings(SearchSettings, args, SHORTCUTS)
    assert settings.objective.kind == "latency-aware" and settings.objective.target == 80.0
    assert settings.objective.max_latency_ms == 80.0 and settings.objective.weight == -0.1
    assert (settings.latency.target, settings.latency.size, settings.latency.threads) == (
        "onnxruntime-cpu",
        256,
        1,
    )
    assert settings.time_budget == 5400.0 and settings.measures_latency
    plain = resolve_settings(SearchSettings, build_parser().parse_args(["search"]), SHORTCUTS)
    assert not plain.measures_latency and plain.time_budget is None


def test_a_bad_duration_names_the_option(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--time-budget", "soon"])
    assert "--time-budget" in capsys.readouterr().err
