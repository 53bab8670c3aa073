"""Fixtures of the dashboard tests (API and browser): run directories written directly.

The writers live in `tests.fixtures.dashboard_runs` (see its doc): a test module imports them
from there (`from tests.fixtures.dashboard_runs import add_candidate`), as the repository's other
shared test helpers.

Fixtures: `search_run` (12 candidates, every status, closed store), `writing_run`
((run_dir, open store) with 3 finished candidates; the store is closed after the test),
`experiment_run` (an ablation experiment), and `client_for` (a factory: run directories ->
starlette TestClient of the dashboard app, closed after the test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from segnas.search.store import SearchStore
from tests.fixtures.dashboard_runs import write_experiment_run, write_search_run


@pytest.fixture
def search_run(tmp_path: Path) -> Path:
    """A finished search run: the 12 `MIXED` candidates, strategy stats, closed store."""
    run_dir = tmp_path / "search-a"
    write_search_run(run_dir)
    return run_dir


@pytest.fixture
def writing_run(tmp_path: Path) -> Iterator[tuple[Path, SearchStore]]:
    """(run_dir, open store) of a search being written: 3 finished candidates so far; add more
    with `add_candidate(store, 3, "done")` etc."""
    run_dir = tmp_path / "search-live"
    store = write_search_run(run_dir, ("done", "stopped", "done"), keep_open=True)
    assert store is not None
    yield run_dir, store
    store.close()


@pytest.fixture
def experiment_run(tmp_path: Path) -> Path:
    return write_experiment_run(tmp_path / "ablation-a")


@pytest.fixture
def client_for() -> Iterator[Callable]:
    """A factory: `client_for([run_dir, ...], poll_seconds=2.0)` -> a started TestClient of the
    dashboard app over those runs (closed after the test)."""
    from starlette.testclient import TestClient

    from segnas.dashboard.app import create_app

    clients: list[TestClient] = []

    def make(run_dirs: Sequence[Path], poll_seconds: float = 2.0) -> TestClient:
        client = TestClient(create_app(list(run_dirs), poll_seconds=poll_seconds))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
