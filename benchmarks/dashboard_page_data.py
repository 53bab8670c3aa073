"""The dashboard's page data on a large store: what one poll of `segnas dashboard` costs.

A store of `--candidates` rows (default 10,000) is written as a long search leaves it: per-class
metrics of 21 classes at both stages, early-termination decisions, a few failed rows with their
tracebacks, over-budget and reused rows, a running tail, latencies on the trained ones. Then,
through the real ASGI app (starlette's TestClient, so routing, JSON encoding and headers count):

- `page (cold)`: the page data built from scratch (the app's cache emptied before each repeat);
- `poll (304)`: a conditional poll of the unchanged store (If-None-Match with the current ETag);
- `page (cached)`: the page data of an unchanged store without If-None-Match (a second tab);
- `page (update)`: the page data after the search wrote one more candidate (the live case:
  only the rows that changed are read again);
- `candidate`: one candidate's full row;
- `diagram (cold)`: one design's SVG, the diagram cache emptied before each repeat.

Each figure is the median of `--repeats` runs, in ms, beside the goal of 200 ms.

    python benchmarks/dashboard_page_data.py [--candidates 10000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

GOAL_MS = 200.0
"""The issue's bound on page data for a 10,000-candidate store."""
CLASSES = 21
"""Per-class figures per stage: VOC's 21, so the metrics columns are as wide as a real run's."""
GENERATION = 8


def _metrics(rng: random.Random, reward: float) -> str:
    per_class = [round(min(1.0, max(0.0, rng.gauss(reward, 0.15))), 6) for _ in range(CLASSES)]
    return json.dumps(
        {
            "per_class_iou": per_class,
            "mean_iou": reward,
            "fw_iou": reward + 0.1,
            "mean_accuracy": reward + 0.05,
            "pixel_accuracy": reward + 0.2,
            "per_class_accuracy": per_class,
        }
    )


def _row(k: int, rng: random.Random, genotype: str, *, running: bool) -> tuple:
    """One candidate row in the store's column order (see `INSERT`)."""
    started = 1_700_000_000.0 + 30.0 * k
    if running:
        return (
            k, genotype, "running", None, None, None, None, None, None, None, None, None,
            None, None, 1, started, None, None, None, None,
        )  # fmt: skip
    draw = rng.random()
    status = (
        "failed"
        if draw < 0.03
        else "over-budget"
        if draw < 0.06
        else "stopped-after-stage-1"
        if draw < 0.5
        else "done"
    )
    latency_ms = round(rng.uniform(5, 80), 3)
    latency = json.dumps({"target": "onnx-cpu", "size": [512, 512], "threads": 1, "runs": 20})
    if status == "failed":
        return (
            k, genotype, status, 0.0, None, None, None, None, None, None,
            json.dumps({"build": 0.4, "stage1": 3.0}), "null",
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB\nmore",
            "Traceback (most recent call last):\n" + '  File "x.py", line 1\n' * 20,
            1, started, started + 3.4, None, None, None,
        )  # fmt: skip
    if status == "over-budget":
        return (
            k, genotype, status, 0.0, None, None, None, None, None, None,
            json.dumps({"latency": 1.2}), "null", None, None,
            1, started, started + 1.2, None, latency_ms + 100, latency,
        )  # fmt: skip
    stage1 = round(rng.uniform(0.1, 0.6), 6)
    done = status == "done"
    reward = round(stage1 + rng.uniform(0, 0.1), 6) if done else stage1
    seconds = {"build": 0.1, "stage1": 20.0, "val1": 0.5} | (
        {"stage2": 10.0, "val2": 0.5} if done else {}
    )
    decision = {
        "index": k,
        "go_on": done,
        "reason": "above running average" if done else "below running average",
        "p": round(rng.random(), 4),
        "running_average": round(rng.uniform(0.2, 0.4), 6),
    }
    reused = rng.randrange(k) if k > 10 and rng.random() < 0.05 else None
    return (
        k, genotype, status, reward, stage1, reward if done else None,
        _metrics(rng, stage1), _metrics(rng, reward) if done else None,
        rng.randrange(500_000, 4_000_000), rng.randrange(100_000_000, 2_000_000_000),
        json.dumps(seconds), json.dumps(decision), None, None,
        1, started, started + sum(seconds.values()), reused, latency_ms, latency,
    )  # fmt: skip


INSERT = (
    "INSERT INTO candidates (id, genotype, status, reward, stage1_reward, stage2_reward,"
    " stage1_metrics, stage2_metrics, params, madds, seconds, decision, failure, traceback,"
    " attempts, started_at, finished_at, reused_from, latency_ms, latency)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def build_store(run_dir: Path, count: int, seed: int = 0) -> Path:
    """A search run directory with `count` candidates (the last few still running), its
    config.yaml and strategy statistics per generation; returns the run directory.

    Rows go in through `SearchStore`'s own schema in one transaction (a search writes them one
    by one, but the rows end up the same)."""
    from segnas.genotype import sample
    from segnas.search.loop import STRATEGY_STATS
    from segnas.search.store import SearchStore

    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(
        "task: segmentation\nbudget: null\nstrategy: ppo\nencoder: mobilenet_v2\n",
        encoding="utf-8",
    )
    store = SearchStore(run_dir / "search.sqlite")
    running = max(1, count // 1000)
    store.db.execute("BEGIN")
    for k in range(count):
        genotype = str(sample(rng))
        store.db.execute(INSERT, _row(k, rng, genotype, running=k >= count - running))
    stats = [
        {"first": first, "count": GENERATION, "at": 1_700_000_000.0 + first, "baseline": 0.3,
         "last_loss": 0.1, "updates": first // GENERATION + 1, "mean_entropy": 2.0}
        for first in range(0, count - running - GENERATION + 1, GENERATION)
    ]  # fmt: skip
    store.db.execute("COMMIT")
    store.set_meta(STRATEGY_STATS, stats)
    store.set_meta("elapsed_seconds", 30.0 * count)
    store.close()
    return run_dir


def _median_ms(
    action: Callable[[], object], repeats: int, before: Callable[[], object] | None = None
) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _page_after_writes(
    run_dir: Path, rows: list[dict], get: Callable[[], None], repeats: int
) -> float:
    """Median ms of the page after the search wrote one more candidate (started), as a poll
    during a search meets it: only the changed row is read again."""
    from segnas.search.store import SearchStore

    store = SearchStore(run_dir / "search.sqlite")
    ids = iter(range(len(rows), len(rows) + repeats))
    try:
        return _median_ms(get, repeats, lambda: store.start(next(ids), rows[0]["genotype"]))
    finally:
        store.close()


def measure(run_dir: Path, repeats: int) -> dict[str, float]:
    """Median ms of each request (see the module doc) on the app serving `run_dir`; the OS
    keeps the store's file in its cache throughout, as it does for a server polled every 2 s."""
    from starlette.testclient import TestClient

    from segnas.dashboard import designs
    from segnas.dashboard.app import create_app

    app = create_app([run_dir])
    page_url = f"/api/runs/{run_dir.name}"
    with TestClient(app) as client:

        def get(url: str, expect: int = 200, **headers: str) -> None:
            response = client.get(url, headers=headers)
            assert response.status_code == expect, (url, response.status_code, response.text)

        page = client.get(page_url)
        etag = page.headers["etag"]
        rows = page.json()["candidates"]
        one = f"{page_url}/candidates/{rows[len(rows) // 2]['id']}"
        return {
            "page (cold)": _median_ms(lambda: get(page_url), repeats, app.state.pages.clear),
            "poll (304)": _median_ms(
                lambda: get(page_url, 304, **{"If-None-Match": etag}), repeats
            ),
            "page (cached)": _median_ms(lambda: get(page_url), repeats),
            "page (update)": _page_after_writes(run_dir, rows, lambda: get(page_url), repeats),
            "candidate": _median_ms(lambda: get(one), repeats),
            "diagram (cold)": _median_ms(
                lambda: get(f"{one}/diagram.svg"), repeats, designs.clear_cache
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_dir = build_store(Path(tmp) / "big-search", args.candidates)
        size = (run_dir / "search.sqlite").stat().st_size / 1e6
        built = time.perf_counter() - start
        print(f"store: {args.candidates} candidates, {size:.1f} MB, written in {built:.1f} s")
        figures = measure(run_dir, args.repeats)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} (other work slows every figure)")
    print(f"{'request':<16} {'median ms':>10} {'goal ms':>8}  verdict")
    for label, ms in figures.items():
        verdict = "pass" if ms < GOAL_MS else "FAIL"
        print(f"{label:<16} {ms:>10.1f} {GOAL_MS:>8.0f}  {verdict}")


if __name__ == "__main__":
    main()
