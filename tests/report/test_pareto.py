"""The Pareto front on hand-made points, its table, plot and JSON, and `segnas report` re-ranking
a run with latencies under another objective."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segnas.cli import main
from segnas.genotype import sample
from segnas.report.pareto import dominates, front_json, front_markdown, front_rows, plot_pareto
from segnas.search.objective import ObjectiveSettings
from segnas.search.store import SearchStore
from segnas.train.result import CandidateResult

POINTS = {  # id: (reward, latency ms, params)
    0: (0.50, 100.0, 2_000_000),
    1: (0.40, 50.0, 2_000_000),
    2: (0.30, 60.0, 2_000_000),  # beaten by 1: less accurate, slower, as large
    3: (0.50, 100.0, 3_000_000),  # beaten by 0: as accurate and fast, larger
    4: (0.60, 200.0, 1_000_000),
    5: (0.40, 50.0, 2_000_000),  # equal to 1: both stay
}


def make_rows(points=POINTS, with_latency=True) -> list[dict]:
    return [
        {
            "id": i,
            "genotype": str(sample(random.Random(i))),
            "status": "done",
            "reward": r,
            "latency_ms": ms if with_latency else None,
            "params": p,
            "madds": 10 * p,
            "reused_from": None,
        }
        for i, (r, ms, p) in points.items()
    ]


def test_the_front_keeps_exactly_the_undominated_designs_fastest_first() -> None:
    front, with_latency = front_rows(make_rows())
    assert with_latency and [r["id"] for r in front] == [1, 5, 0, 4]
    assert dominates((1, 1, 1), (1, 2, 1)) and not dominates((1, 1, 1), (1, 1, 1))
    assert not dominates((0, 2, 1), (1, 1, 1))


def test_without_latencies_the_front_is_over_reward_and_parameters() -> None:
    front, with_latency = front_rows(make_rows(with_latency=False))
    assert not with_latency and [r["id"] for r in front] == [4]  # most accurate and smallest
    assert front_json(make_rows(with_latency=False), ObjectiveSettings())["axes"] == [
        "reward",
        "params",
    ]


def test_reused_failed_and_over_budget_rows_are_not_on_the_front() -> None:
    rows = make_rows()
    rows[4]["reused_from"] = 0
    rows[1]["status"] = "over-budget"
    rows[5]["status"] = "failed"
    assert [r["id"] for r in front_rows(rows)[0]] == [2, 0]


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(1, 500), st.integers(1, 10)), max_size=30))
def test_no_front_design_is_dominated_and_every_other_one_is(points) -> None:
    rows = make_rows({i: p for i, p in enumerate(points)})
    front, _ = front_rows(rows)
    axes = {r["id"]: (-r["reward"], r["latency_ms"], r["params"]) for r in rows}
    on = {r["id"] for r in front}
    for i, point in axes.items():
        beaten = any(dominates(other, point) for other in axes.values())
        assert beaten == (i not in on)


def test_the_table_plot_and_json_show_the_front(tmp_path: Path) -> None:
    objective = ObjectiveSettings("latency-aware", target_ms=100.0, max_latency_ms=150.0)
    lines = front_markdown(make_rows(), objective)
    table = [line for line in lines if line.startswith("| #")]
    assert [line.split(" | ")[0] for line in table] == ["| #1", "| #5", "| #0", "| #4"]
    assert "| 0.5000 | 100.0 | 2.00 | 20 | 0.5000 |" in table[2]
    data = front_json(make_rows(), objective)
    assert data["axes"] == ["reward", "latency_ms", "params"]
    assert data["designs"][0]["objective"] == pytest.approx(0.40 * 0.5**-0.07)
    png = plot_pareto(make_rows(), tmp_path / "pareto.png", objective)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def write_run(run_dir: Path) -> None:
    """A finished accuracy-objective run whose candidates carry latencies."""
    store = SearchStore(run_dir / "search.sqlite")
    for i, (reward, ms, params) in POINTS.items():
        genotype = str(sample(random.Random(i)))
        store.start(i, genotype)
        result = CandidateResult(
            genotype, "done", reward, reward, reward, params=params, madds=params, latency_ms=ms
        )
        store.finish(i, result)
    store.close()
    (run_dir / "config.yaml").write_text("budget: 6\nobjective:\n  kind: accuracy\n")


def report(run_dir: Path, capsys, *options: str) -> dict:
    capsys.readouterr()
    assert main(["report", str(run_dir), "--json", *options]) == 0
    return json.loads(capsys.readouterr().out)


def test_segnas_report_reranks_a_run_under_another_objective(tmp_path: Path, capsys) -> None:
    write_run(tmp_path)
    own = report(tmp_path, capsys)
    assert own["best"]["id"] == 4 and own["objective"]["kind"] == "accuracy"
    capped = report(tmp_path, capsys, "--max-latency-ms", "120")
    assert capped["best"]["id"] == 0  # 4 is over 120 ms; 0 and 3 tie, the earlier wins
    soft = report(tmp_path, capsys, "--objective", "latency-aware", "--target-latency-ms", "50")
    # 0.6 x 4^-0.07 = 0.544 beats 0.5 x 2^-0.07 = 0.476 and 0.4 x 1 = 0.4
    assert soft["best"]["id"] == 4
    strong = report(
        tmp_path,
        capsys,
        "--objective",
        "latency-aware",
        "--target-latency-ms",
        "50",
        "--latency-weight",
        "-0.5",
    )
    assert strong["best"]["id"] == 1  # 0.4 x 1 beats 0.5 x 2^-0.5 = 0.354 and 0.6 x 4^-0.5 = 0.3
    assert main(["report", str(tmp_path), "--objective", "latency-aware"]) == 2
    assert "target_ms" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--max-latency-ms", "120"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "re-ranked" in text and "## Pareto front" in text
    assert (tmp_path / "report" / "pareto.png").is_file()
