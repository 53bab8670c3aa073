"""`benchmarks/dashboard_page_data.py` at a small size: its store is a real search store with
every status, and each measured request succeeds through the app."""

from __future__ import annotations

from pathlib import Path

from benchmarks import dashboard_page_data as script
from segnas.search.loop import STRATEGY_STATS
from segnas.search.store import STATUSES, read_candidates, read_meta


def test_the_store_has_realistic_rows_and_every_request_is_timed(tmp_path: Path) -> None:
    run_dir = script.build_store(tmp_path / "big-search", 300)
    rows = read_candidates(run_dir / "search.sqlite")
    assert [r["id"] for r in rows] == list(range(300))
    assert {r["status"] for r in rows} == set(STATUSES)
    done = next(r for r in rows if r["status"] == "done")
    assert len(done["stage2_metrics"]["per_class_iou"]) == script.CLASSES
    assert done["decision"]["go_on"] is True and done["latency_ms"] is not None
    assert any(r["reused_from"] is not None for r in rows)
    assert len(read_meta(run_dir / "search.sqlite")[STRATEGY_STATS]) > 10
    figures = script.measure(run_dir, repeats=1)
    assert set(figures) == {
        "page (cold)",
        "poll (304)",
        "page (cached)",
        "page (update)",
        "candidate",
        "diagram (cold)",
    }
    assert all(ms > 0 for ms in figures.values())
