"""The durable search store: one SQLite row per candidate, written as it starts and as it ends.

SQLite in WAL mode with full sync makes every write atomic and durable, so a search killed at
any moment leaves each candidate either as it was or as written, never half. The row id is the
candidate's index in proposal order, so a re-run after a resume replaces, never duplicates.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

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
    finished_at REAL
);
"""

STATUS = {"done": "done", "stopped": "stopped-after-stage-1", "failed": "failed"}
"""Store status of each `CandidateResult.status`; a started, unfinished row is `running`."""
JSON_COLUMNS = ("stage1_metrics", "stage2_metrics", "seconds", "decision")


class SearchStore:
    """All candidates of one run, in `RUN_DIR/search.sqlite`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

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

    def finish(self, index: int, result: CandidateResult, decision: dict | None) -> None:
        """Record everything measured for candidate `index` in one atomic write."""
        self.db.execute(
            "UPDATE candidates SET genotype = ?, status = ?, reward = ?, stage1_reward = ?,"
            " stage2_reward = ?, stage1_metrics = ?, stage2_metrics = ?, params = ?, madds = ?,"
            " seconds = ?, decision = ?, failure = ?, traceback = ?, finished_at = ?"
            " WHERE id = ?",
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
                index,
            ),
        )

    def candidates(self, index: int | None = None) -> list[dict[str, Any]]:
        """Every row in id order (or only row `index`), JSON columns decoded."""
        if index is None:
            cursor = self.db.execute("SELECT * FROM candidates ORDER BY id")
        else:
            cursor = self.db.execute("SELECT * FROM candidates WHERE id = ?", (index,))
        names = [d[0] for d in cursor.description]
        rows = []
        for values in cursor.fetchall():
            row = dict(zip(names, values))
            for column in JSON_COLUMNS:
                row[column] = None if row[column] is None else json.loads(row[column])
            rows.append(row)
        return rows

    def result(self, index: int) -> CandidateResult | None:
        """The finished result of candidate `index`, to reuse after a resume; None if unfinished."""
        row = next(iter(self.candidates(index)), None)
        if row is None or row["status"] == "running":
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
        )
