"""Run reports: report.md, figures, diagrams, JSON and the CLI, from a store built by hand."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from segnas.cli.report import add_report_command
from segnas.report.plots import correlations, pareto_front
from segnas.report.run_report import (
    headline,
    load_run,
    render_summary,
    report_json,
    write_report,
)
from segnas.search.store import SearchStore
from tests.fixtures.search_runs import (
    MIXED,
    OOM,
    candidate_result,
    genotype_text,
    make_run,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run(tmp_path: Path):
    store = make_run(tmp_path / "run", MIXED)
    yield tmp_path / "run"
    store.close()


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _table_rows(text: str) -> list[list[str]]:
    lines = [ln for ln in _section(text, "Top 10").splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 5_000, path


def test_report_md_names_the_best_the_top_and_the_failures(run: Path) -> None:
    text = write_report(run).read_text()
    assert text == (run / "report.md").read_text()
    best = genotype_text(3)
    assert f"`{run}`" in text and "random" in text and "builtin" in text and "budget: 8" in text
    assert "done 3, stopped-after-stage-1 2, over-budget 0, failed 1, running 1" in text
    best_section = _section(text, "Best design")
    assert "candidate #3" in best_section and "0.5500" in best_section and best in best_section
    assert f"segnas describe '{best}'" in text and f"segnas train {run}:best" in text
    rows = _table_rows(text)
    assert [r[1] for r in rows] == ["3", "0", "4", "6", "1"]  # scored only, best first
    assert rows[0][:3] == ["1", "3", "0.5500"] and rows[-1][-1] == "stopped-after-stage-1"
    failures = _section(text, "Failures")
    assert f"#2: `{OOM}`" in failures and "second line" not in failures
    assert "#5" in _section(text, "Running")
    for name in ("rewards.png", "stages.png", "cost.png", "top1.svg", "top3.svg"):
        assert f"(report/{name})" in text


def test_figures_are_png_and_diagrams_are_svg_of_the_top_three(run: Path) -> None:
    write_report(run)
    for name in ("rewards.png", "stages.png", "cost.png"):
        _check_png(run / "report" / name)
    svgs = sorted((run / "report").glob("*.svg"))
    assert [p.name for p in svgs] == ["top1.svg", "top2.svg", "top3.svg"]
    for path, k in zip(svgs, (3, 0, 4)):
        texts = ["".join(t.itertext()) for t in ET.parse(path).getroot().iter()]
        assert genotype_text(k) in texts and any(f"candidate {k}," in t for t in texts)


def test_report_json_equals_the_store(run: Path) -> None:
    data = json.loads(json.dumps(report_json(run)))
    rows = SearchStore(run / "search.sqlite").candidates()
    keys = [
        "id",
        "genotype",
        "status",
        "reward",
        "stage1_reward",
        "stage2_reward",
        "params",
        "madds",
        "seconds",
        "reused_from",
        "latency_ms",
    ]
    assert data["candidates"] == [{k: r[k] for k in keys} for r in rows]
    assert data["best"]["id"] == 3 and data["best"]["genotype"] == genotype_text(3)
    assert data["counts"] == {
        "done": 3,
        "stopped-after-stage-1": 2,
        "over-budget": 0,
        "failed": 1,
        "running": 1,
    }
    assert data["objective"]["kind"] == "accuracy" and data["stopped"] is None
    assert data["pareto"]["axes"] == ["reward", "params"]  # no latencies measured
    assert [c["status"] for c in data["candidates"]][5] == "running"


def test_a_report_follows_a_running_search(run: Path, tmp_path: Path) -> None:
    store = SearchStore(run / "search.sqlite")  # a second writer, as the search process is
    store.finish(5, candidate_result(5, "done", 0.9), None)
    store.start(7, genotype_text(7))
    loaded = load_run(run)
    assert loaded["summary"]["best"]["id"] == 5
    assert loaded["counts"]["running"] == 1 and loaded["rows"][-1]["status"] == "running"
    assert loaded["wall_seconds"] >= 0 and loaded["seconds"] == pytest.approx(6 * 6.1 + 0.5)
    store.close()


def test_top_table_holds_ten(tmp_path: Path) -> None:
    store = make_run(tmp_path / "run", [("done", 0.1 + 0.01 * k) for k in range(12)])
    text = write_report(tmp_path / "run").read_text()
    assert [r[1] for r in _table_rows(text)] == [str(k) for k in range(11, 1, -1)]
    assert len(list((tmp_path / "run" / "report").glob("*.svg"))) == 3
    store.close()


@pytest.mark.parametrize(
    "specs", [[], [("failed", 0.0)] * 3, [None, None]], ids=["empty", "all-failed", "all-running"]
)
def test_runs_with_nothing_scored_still_report(tmp_path: Path, specs) -> None:
    store = make_run(tmp_path / "run", specs, config="")
    text = write_report(tmp_path / "run").read_text()
    assert "No scored candidate yet." in _section(text, "Best design")
    assert "|" not in _section(text, "Top 10")
    for name in ("rewards.png", "stages.png", "cost.png"):
        _check_png(tmp_path / "run" / "report" / name)
    assert not list((tmp_path / "run" / "report").glob("*.svg"))
    data = report_json(tmp_path / "run")
    assert data["best"] is None and len(data["candidates"]) == len(specs)
    store.close()


def test_render_summary_prints_the_best(run: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=200)
    render_summary(run, console)
    out = console.export_text()
    assert f"best #3 reward 0.5500: {genotype_text(3)}" in out and f"{run}:best" in out


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="segnas")
    add_report_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_report(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["report", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["best"]["id"] == 3
    assert not (run / "report.md").exists()  # --json writes nothing
    assert _cli(["report", str(run)]) == 0
    assert str(run / "report.md") in capsys.readouterr().out.replace("\n", "")
    assert (run / "report.md").is_file()
    for argv in (["report", str(tmp_path)], ["report", str(tmp_path / "missing"), "--json"]):
        assert _cli(argv) == 2
        assert argv[1] in capsys.readouterr().err


def test_correlations_and_front() -> None:
    spearman, pearson = correlations([1, 2, 3, 4], [1, 4, 9, 16])
    assert spearman == pytest.approx(1.0) and 0.9 < pearson < 1.0
    spearman, _ = correlations([1, 2, 2, 3], [3, 2, 2, 1])  # ties share ranks
    assert spearman == pytest.approx(-1.0)
    assert correlations([1, 2], [5, 5]) == (None, None)
    assert correlations([1], [1]) == (None, None)
    points = [(3.0, 0.5), (1.0, 0.2), (2.0, 0.1), (2.0, 0.4), (4.0, 0.45)]
    assert pareto_front(points) == [(1.0, 0.2), (2.0, 0.4), (3.0, 0.5)]


def test_headline_is_each_tasks_main_figure_at_the_last_stage():
    row = {"stage1_metrics": {"pckh": 0.2}, "stage2_metrics": {"pckh": 0.3, "mean_oks": 0.5}}
    assert headline(row) == ("PCKh", 0.3)
    assert headline({"stage1_metrics": {"delta1": 0.4}, "stage2_metrics": None}) == ("δ<1.25", 0.4)
    assert headline({"stage1_metrics": None, "stage2_metrics": {"mean_iou": 0.6}}) == ("mIoU", 0.6)
    assert headline({"stage1_metrics": None, "stage2_metrics": None}) == ("mIoU", None)
