"""What the dashboard's browser tests need besides Playwright: Debian's chromium, the real app
served by uvicorn in a thread, and a realistic search run for the README's screenshot."""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from segnas.search.loop import STRATEGY_STATS
from segnas.search.store import SearchStore
from tests.fixtures.dashboard_runs import (
    SEARCH_CONFIG,
    add_candidate,
    candidate_result,
    decision_for,
    strategy_stats,
)
from tests.fixtures.search_runs import genotype_text

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
"""Headless chromium that talks to nothing but the test's server."""
SERVER_START_SECONDS = 10.0


def chromium_path() -> str | None:
    """`SEGNAS_CHROMIUM`, else Debian's /usr/bin/chromium; None when it is not there."""
    path = os.environ.get("SEGNAS_CHROMIUM") or "/usr/bin/chromium"
    found = shutil.which(path)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(app: object) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free local port; yields its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_SECONDS)


SHOWCASE_STATUSES = ("done",) * 6 + ("stopped", "done", "done", "failed", "done", "over-budget")
"""One block of the screenshot run's statuses; mostly trained, a few stopped, failed, too slow."""


def write_showcase_run(run_dir: Path, count: int = 60, seed: int = 0) -> None:
    """A finished search run that looks like a real one: rewards rising as the controller learns,
    latency growing with multiply-adds, a few candidates stopped early, failed or too slow."""
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(
        SEARCH_CONFIG.replace("budget: 20", f"budget: {count}"), encoding="utf-8"
    )
    store = SearchStore(run_dir / "search.sqlite")
    try:
        for k in range(count):
            status = SHOWCASE_STATUSES[k % len(SHOWCASE_STATUSES)]
            madds = rng.randint(30, 160) * 1_000_000
            latency_ms = round(2.0 + madds / 1e6 * 0.045 + rng.uniform(-0.6, 0.6), 2)
            if status in ("failed", "over-budget"):
                add_candidate(store, k, status, latency_ms=latency_ms + 6.0)
                continue
            learned = 0.27 + 0.1 * (1 - 2.718 ** (-k / 18))
            reward = round(learned + 0.02 * (madds / 1.6e8) + rng.gauss(0, 0.025), 4)
            stage1 = round(reward - 0.03 + rng.gauss(0, 0.012), 4)
            base = candidate_result(k, status, latency_ms=latency_ms)
            result = dataclasses.replace(
                base,
                reward=stage1 if status == "stopped" else reward,
                stage1_reward=stage1,
                stage2_reward=reward if status == "done" else None,
                params=rng.randint(1_900_000, 2_500_000),
                madds=madds,
                seconds={phase: s * (0.6 + madds / 1.6e8) for phase, s in base.seconds.items()},
            )
            store.start(k, genotype_text(k))
            store.finish(k, result)
            store.set_decision(k, decision_for(k, status))
        store.set_meta("elapsed_seconds", 41.5 * count)
        store.set_meta("stopped", None)
        stats = strategy_stats(count)
        for g, entry in enumerate(stats):
            entry["baseline"] = round(0.27 + 0.1 * (1 - 2.718 ** (-(g + 1) * 4 / 18)), 4)
            entry["mean_entropy"] = round(2.3 * 0.93**g, 4)
        store.set_meta(STRATEGY_STATS, stats)
    finally:
        store.close()
