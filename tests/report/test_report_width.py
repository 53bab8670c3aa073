"""The console's top-designs table fits an 80-column terminal with every cell whole."""

from __future__ import annotations

import random
from pathlib import Path

from rich.console import Console

from segnas.genotype import sample
from segnas.report.run_report import render_summary
from segnas.search.store import SearchStore
from segnas.train.result import CandidateResult


def test_top_table_fits_80_columns(tmp_path: Path) -> None:
    run_dir = tmp_path / "search-20260101-120000-with-a-long-name"
    store = SearchStore(run_dir / "search.sqlite")
    for k, status in enumerate(["done", "stopped"] * 6):
        index = 100 + k  # three-digit ids
        genotype = str(sample(random.Random(k)))
        result = CandidateResult(genotype, status, 0.5 + k / 100, 0.4, None)
        result.params, result.madds = 2_345_678, 987_654_321
        result.seconds = {"stage1": 1234.5, "stage2": 0.25}
        store.start(index, genotype)
        store.finish(index, result, None)
    store.close()
    console = Console(record=True, width=80)
    render_summary(run_dir, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    row = next(line for line in lines if " 111 " in line)
    for cell in ("0.6100", "0.4000", "2.35", "987.65", "1234.8", "stopped-after-stage-1"):
        assert cell in row, row
