"""The durable search store: one SQLite row per candidate, written as it starts and as it ends.

SQLite in WAL mode with full sync makes every write atomic and durable, so a search killed at
any moment leaves each candidate either as it was or as written, never half. The row id is the
candidate's index in proposal order, so a re-run after a resume replaces, never duplicates.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segnas.genotype import GenotypeError, parse
from segnas.search.objective import ObjectiveSettings, scored_values
from segnas.search.store_read import StoreBusy, StoreDamaged, read_store
from segnas.train.result import CandidateResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY,
    genotype TEXT NOT NULL,
    status TEXT NOT NULL,
    reward REAL,
    stage1_reward REAL,
    stage2_reward REAL,
    stage1_metrics TEXT,
    stage2_metrics TEXT,
    params INTEGER,
    madds INTEGER,
    seconds TEXT,
    decision TEXT,
    failure TEXT,
    traceback TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    started_at REAL NOT NULL,
    finished_at REAL,
    reused_from INTEGER,
    latency_ms REAL,
    latency TEXT
);
"""
ADDED_COLUMNS = {"reused_from": "INTEGER", "latency_ms": "REAL", "latency": "TEXT"}
"""Columns newer than the first store format, added to an older store when it is opened."""

DONE, STOPPED, FAILED, RUNNING = "done", "stopped-after-stage-1", "failed", "running"
OVER_BUDGET = "over-budget"
"""Deployed latency above the run's cap: measured, never trained."""
STATUSES = (DONE, STOPPED, OVER_BUDGET, FAILED, RUNNING)
"""Every status a candidate row can have, in the order reports list them."""
SCORED = (DONE, STOPPED)
"""Statuses with a reward: the candidates that compete for the best."""
FINISHED = (DONE, STOPPED, OVER_BUDGET, FAILED)
STATUS = {"done": DONE, "stopped": STOPPED, "failed": FAILED, "over-budget": OVER_BUDGET}
"""Store status of each `CandidateResult.status`; a started, unfinished row is `running`."""
SUMMARY_COLUMNS = (
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
)
JSON_COLUMNS = ("stage1_metrics", "stage2_metrics", "seconds", "decision", "latency")


class SearchStore:
    """All candidates of one run, in `RUN_DIR/search.sqlite`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        present = {row[1] for row in self.db.execute("PRAGMA table_info(candidates)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in present:
                self.db.execute(f"ALTER TABLE candidates ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self.db.close()

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def start(self, index: int, genotype: str) -> None:
        """Record that candidate `index` began (again, after a resume: `attempts` counts)."""
        self.db.execute(
            "INSERT INTO candidates (id, genotype, status, started_at) VALUES (?, ?, 'running', ?)"
            " ON CONFLICT(id) DO UPDATE SET genotype = excluded.genotype, status = 'running',"
            " attempts = attempts + 1, started_at = excluded.started_at, finished_at = NULL",
            (index, genotype, time.time()),
        )

    def finish(self, index: int, result: CandidateResult, decision: dict | None = None) -> None:
        """Record everything measured for candidate `index` in one atomic write, as soon as it
        finished; the termination decision follows with `set_decision` when it is fed back."""
        self.db.execute(
            "UPDATE candidates SET genotype = ?, status = ?, reward = ?, stage1_reward = ?,"
            " stage2_reward = ?, stage1_metrics = ?, stage2_metrics = ?, params = ?, madds = ?,"
            " seconds = ?, decision = ?, failure = ?, traceback = ?, finished_at = ?,"
            " reused_from = ?, latency_ms = ?, latency = ? WHERE id = ?",
            (
                result.genotype,
                STATUS[result.status],
                result.reward,
                result.stage1_reward,
                result.stage2_reward,
                json.dumps(result.stage1_metrics),
                json.dumps(result.stage2_metrics),
                result.params,
                result.madds,
                json.dumps(result.seconds),
                json.dumps(decision),
                result.failure,
                result.traceback,
                time.time(),
                result.reused_from,
                result.latency_ms,
                json.dumps(result.latency),
                index,
            ),
        )

    def set_decision(self, index: int, decision: dict | None) -> None:
        """Record the stage-1 decision for candidate `index` (made when it is fed back)."""
        self.db.execute(
            "UPDATE candidates SET decision = ? WHERE id = ?", (json.dumps(decision), index)
        )

    def candidates(self, index: int | None = None) -> list[dict[str, Any]]:
        """Every row in id order (or only row `index`), JSON columns decoded."""
        return select_rows(self.db, index)

    def result(self, index: int) -> CandidateResult | None:
        """The finished result of candidate `index`, to reuse after a resume; None if unfinished."""
        row = next(iter(self.candidates(index)), None)
        if row is None or row["status"] == RUNNING:
            return None
        status = {v: k for k, v in STATUS.items()}[row["status"]]
        return CandidateResult(
            genotype=row["genotype"],
            status=status,
            reward=row["reward"],  # type: ignore[arg-type]
            stage1_reward=row["stage1_reward"],
            stage2_reward=row["stage2_reward"],
            stage1_metrics=row["stage1_metrics"],
            stage2_metrics=row["stage2_metrics"],
            params=row["params"],
            madds=row["madds"],
            seconds=row["seconds"] or {},
            failure=row["failure"],
            traceback=row["traceback"],
            reused_from=row["reused_from"],
            latency_ms=row["latency_ms"],
            latency=row["latency"],
        )


class NotASearchRun(FileNotFoundError):
    """The directory has no readable search store; the message names the path."""


def select_rows(db: sqlite3.Connection, index: int | None = None) -> list[dict[str, Any]]:
    """Every row (or row `index`) of an open store in id order, JSON columns decoded and the
    columns an older store lacks as None."""
    if index is None:
        cursor = db.execute("SELECT * FROM candidates ORDER BY id")
    else:
        cursor = db.execute("SELECT * FROM candidates WHERE id = ?", (index,))
    names = [d[0] for d in cursor.description]
    rows = []
    for values in cursor.fetchall():
        row = dict(zip(names, values))
        for column in ADDED_COLUMNS:  # an older store read without migrating it
            row.setdefault(column, None)
        for column in JSON_COLUMNS:
            row[column] = None if row[column] is None else json.loads(row[column])
        rows.append(row)
    return rows


def _read_only(path: Path, read: Callable[[sqlite3.Connection], Any]) -> Any:
    """`read(db)` on the store at `path`, read-only (`store_read.read_store`): works on a
    finished run, a read-only copy, or one a search is still writing to. Never creates or
    changes a file."""
    try:
        return read_store(Path(path), read)
    except StoreDamaged as error:
        raise NotASearchRun(str(error)) from error
    except StoreBusy as error:
        raise NotASearchRun(f"{path}: {error}") from error


def read_candidates(path: Path) -> list[dict[str, Any]]:
    """Every row of the store at `path` in id order, read-only (unfinished candidates read as
    `running`)."""
    return _read_only(path, select_rows)


def read_meta(path: Path) -> dict[str, Any]:
    """The store's meta entries (identity, time spent, why the run stopped), read-only."""
    return _read_only(
        path,
        lambda db: {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")},
    )


def ranked(
    rows: list[dict[str, Any]],
    *,
    distinct: bool = False,
    objective: ObjectiveSettings | None = None,
) -> list[dict[str, Any]]:
    """Scored rows, best first by `objective` (default: the accuracy reward), ties to the
    earlier candidate; a reused row is left out (the row it copies stands for the design; a row
    without the column is not a copy), and so is a row the objective cannot rank (latency
    missing or over its cap). With `distinct`, each design once (symmetric duplicates merged,
    as with `--no-reuse`), at its best row: what re-scoring retrains."""
    candidates = (r for r in rows if r["status"] in SCORED and r.get("reused_from") is None)
    values = scored_values(candidates, objective or ObjectiveSettings())
    scored = [row for row, _ in sorted(values, key=lambda rv: (-rv[1], rv[0]["id"]))]
    if not distinct:
        return scored
    seen: set[str] = set()
    out = []
    for row in scored:
        key = design_key(row["genotype"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def design_key(genotype: str) -> str:
    """The network a row's genotype describes: symmetric duplicates share a key."""
    try:
        return str(parse(genotype).normalized())
    except GenotypeError:
        return genotype


def summary(
    rows: list[dict[str, Any]], objective: ObjectiveSettings | None = None
) -> dict[str, Any]:
    """`candidates` (the summary columns of each row) and `best` (the first of `ranked` under
    `objective`, or None), as `segnas report --json` gives them."""
    candidates = [{k: r[k] for k in SUMMARY_COLUMNS} for r in rows]
    best = next(iter(ranked(candidates, objective=objective)), None)
    return {"candidates": candidates, "best": best}
