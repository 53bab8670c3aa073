"""A search run's page data: the candidates table, the figures over it, the run's headline.

The page polls it every few seconds while a search adds rows, and a long search has 10,000 of
them, so SQLite writes the table's JSON itself (only the columns the table shows; the
per-class metrics are never decoded), and Python reads only the few columns the figures need.
The details of one candidate are read on their own (`candidate_row`).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from segnas.search.loop import STRATEGY_STATS
from segnas.search.objective import ObjectiveSettings
from segnas.search.store import ADDED_COLUMNS, SCORED, STATUSES, ranked, select_rows

NarrowRow = tuple[int, str, float | None, int | None, float | None, int | None]
"""(id, status, reward, madds, latency_ms, reused_from): what the figures need of a row."""
_SCORED_SQL = ", ".join(f"'{status}'" for status in SCORED)
REWARD_NAMES = {"segmentation": "mIoU"}
"""The reward's name per task when the task's settings do not name it."""


def _column(name: str, present: set[str]) -> str:
    """A column, or NULL for one an older store lacks (see `store.ADDED_COLUMNS`)."""
    return name if name in present or name not in ADDED_COLUMNS else "NULL"


def _key_columns(present: set[str]) -> str:
    """The figures' columns (`NarrowRow`) and then what else changes when a row is rewritten:
    a rerun starts again, a finish sets its time, the decision comes after the finish."""
    latency, reused = _column("latency_ms", present), _column("reused_from", present)
    return (
        f"id, status, CASE WHEN status IN ({_SCORED_SQL}) THEN reward END, madds, {latency}, "
        f"{reused}, started_at, finished_at, attempts, length(decision), length(seconds), "
        "length(stage2_metrics), stage1_reward, stage2_reward"
    )


def _table_sql(present: set[str], where: str = "") -> str:
    """Each candidate's table JSON, written by SQLite, then its key columns (`_key_columns`),
    in one pass: the narrow columns sit after the wide metrics and traceback columns, so reading
    them costs a walk over every row's pages either way.

    The JSON has the reward only where scored, the failure's first line, and the seconds per
    phase and the decision as stored (the search wrote them with json.dumps; null if not plain
    JSON, e.g. holding NaN, which the browser's JSON.parse refuses; the page sums the seconds:
    json_each would be the slowest part of the query). `finished_at` comes last, so the object's
    one closing brace is its last character, and seconds and decision go before it. Id order: the
    id is the table's rowid, and a full scan walks the rowid b-tree in order."""
    latency, reused = _column("latency_ms", present), _column("reused_from", present)
    return f"""
    SELECT rtrim(json_object(
        'id', id, 'genotype', genotype, 'status', status,
        'reward', CASE WHEN status IN ({_SCORED_SQL}) THEN reward END,
        'stage1_reward', stage1_reward, 'stage2_reward', stage2_reward,
        'params', params, 'madds', madds,
        'reused_from', {reused}, 'latency_ms', {latency},
        'failure', CASE WHEN failure IS NOT NULL THEN substr(ltrim(failure, char(10, 32)), 1,
                        instr(ltrim(failure, char(10, 32)) || char(10), char(10)) - 1) END,
        'started_at', started_at, 'finished_at', finished_at), '}}')
      || ',"seconds":' || CASE WHEN json_valid(seconds) THEN seconds ELSE 'null' END
      || ',"decision":' || CASE WHEN json_valid(decision) THEN decision ELSE 'null' END || '}}',
      {_key_columns(present)}
    FROM candidates {where}
    """


def finite(value: Any) -> Any:
    """The value with NaN and infinities as None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


@dataclass
class StoreScan:
    """What one read of a store gives the page: every row's table JSON (comma-joined), the
    narrow columns, the store's meta entries, whether the store has any table yet, and per id
    the row's key and JSON, so the next read fetches only the rows that changed."""

    candidates: str = ""
    rows: list[NarrowRow] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    started: bool = False
    keys: dict[int, tuple] = field(default_factory=dict)
    json: dict[int, str] = field(default_factory=dict)


def _meta(db: sqlite3.Connection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
        return out
    for key, value in db.execute("SELECT key, value FROM meta"):
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = None  # one unreadable entry should not hide the rest of the run
    return out


def _columns(db: sqlite3.Connection) -> set[str] | None:
    """The candidates table's columns; None when the store has no table yet (a search is
    creating it). Raises DatabaseError for a store with tables but no candidates table."""
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return None
    present = {row[1] for row in db.execute("PRAGMA table_info(candidates)")}
    if not present:
        raise sqlite3.DatabaseError("no candidates table")
    return present


REREAD_LIMIT = 500
"""More changed rows than this since the last read: read the whole table in one pass."""


def _changed_rows(
    db: sqlite3.Connection, present: set[str], previous: StoreScan
) -> list[tuple] | None:
    """The rows whose key differs from `previous` (new, rerun, finished, decided), read in
    full; None when so many changed that one pass over the table is cheaper."""
    keys = db.execute(f"SELECT {_key_columns(present)} FROM candidates").fetchall()
    changed = [key[0] for key in keys if previous.keys.get(key[0]) != key]
    if len(changed) > REREAD_LIMIT:
        return None
    rows = {}
    for first in range(0, len(changed), 250):
        ids = changed[first : first + 250]
        where = f"WHERE id IN ({', '.join('?' * len(ids))})"
        for row in db.execute(_table_sql(present, where), ids):
            rows[row[1]] = row
    return [rows.get(key[0]) or (previous.json[key[0]], *key) for key in keys]


def scan_store(db: sqlite3.Connection, previous: StoreScan | None = None) -> StoreScan:
    """Read the table and meta in the caller's read transaction, so every query sees the same
    rows; with the `previous` scan of this store, only the rows that changed since are read in
    full. A store with no table yet (a search is creating it) reads as not started."""
    present = _columns(db)
    if present is None:
        return StoreScan()
    scanned = None
    if previous is not None and previous.started:
        scanned = _changed_rows(db, present, previous)
    if scanned is None:
        scanned = db.execute(_table_sql(present)).fetchall()
    return StoreScan(
        candidates=",".join(row[0] for row in scanned),
        rows=[row[1:7] for row in scanned],
        meta=_meta(db),
        started=True,
        keys={row[1]: row[1:] for row in scanned},
        json={row[1]: row[0] for row in scanned},
    )


def counts(rows: list[NarrowRow]) -> dict[str, int]:
    """Rows per status, every status present."""
    out = dict.fromkeys(STATUSES, 0)
    for row in rows:
        if row[1] in out:
            out[row[1]] += 1
    return out


def running_best(rows: list[NarrowRow]) -> list[list[float]]:
    """[id, best reward so far] at each scored candidate, in id order (the step line)."""
    out: list[list[float]] = []
    best = -math.inf
    for row in rows:
        reward = row[2]  # None unless scored (see `_table_sql`)
        if reward is not None:
            if reward > best:
                best = reward
            out.append([row[0], best])
    return out


def best(rows: list[NarrowRow], objective: ObjectiveSettings) -> dict[str, Any] | None:
    """{id, reward} of the run's best candidate under its own objective, ranked as `segnas
    report` ranks. When the objective is the reward alone, only the top-reward rows can be
    first, so only they are ranked (a long run has thousands of scored rows)."""
    trained = [r for r in rows if r[2] is not None and r[5] is None]  # reward: scored only
    if trained and not objective.needs_latency:
        top = max(r[2] for r in trained)
        trained = [r for r in trained if r[2] == top]
    ranked_rows = ranked(
        [
            {"id": k, "status": s, "reward": r, "latency_ms": lat, "reused_from": None}
            for k, s, r, _, lat, _ in trained
        ],
        objective=objective,
    )
    first = next(iter(ranked_rows), None)
    return None if first is None else {"id": first["id"], "reward": first["reward"]}


def pareto(rows: list[NarrowRow]) -> dict[str, Any]:
    """The reward/cost front: cost is the deployed latency when any trained candidate has one,
    else the multiply-adds; `ids` cheapest first (equal points all on the front)."""
    trained = [r for r in rows if r[2] is not None and r[5] is None]
    axis, index = ("latency_ms", 4) if any(r[4] is not None for r in trained) else ("madds", 3)
    ids: list[int] = []
    best, last = -math.inf, None
    for cost, negated, k in sorted(
        (r[index], -r[2], r[0]) for r in trained if r[index] is not None
    ):
        if -negated > best or (cost, -negated) == last:  # better than every cheaper one, or a tie
            best, last = -negated, (cost, -negated)
            ids.append(k)
    return {"axis": axis, "ids": ids}


def controller(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The strategy's statistics per generation (older runs have none)."""
    stats = meta.get(STRATEGY_STATS)
    return [g for g in stats if isinstance(g, dict)] if isinstance(stats, list) else []


def reward_name(settings: dict[str, Any]) -> str:
    """What the reward measures: mIoU for segmentation, the task's chosen reward otherwise."""
    task = settings.get("task") or "segmentation"
    own = settings.get(task)
    chosen = own.get("reward") if isinstance(own, dict) else None
    return str(chosen or REWARD_NAMES.get(task, "reward"))


def run_meta(
    settings: dict[str, Any], meta: dict[str, Any], objective: ObjectiveSettings
) -> dict[str, Any]:
    """The page's headline: strategy, budget, objective, time spent, why the search stopped."""
    budget = settings.get("budget")
    elapsed = meta.get("elapsed_seconds")
    stopped = meta.get("stopped")
    return {
        "strategy": settings.get("strategy"),
        "budget": budget if isinstance(budget, int) and not isinstance(budget, bool) else None,
        "objective": objective.describe(),
        "elapsed_seconds": float(elapsed) if isinstance(elapsed, (int, float)) else None,
        "stopped": None if stopped is None else str(stopped),
        "task": settings.get("task") or "segmentation",
        "reward_name": reward_name(settings),
    }


def search_fields(
    scan: StoreScan, settings: dict[str, Any], objective: ObjectiveSettings
) -> dict[str, Any]:
    """Every field of a search run's page but its name, status and candidates: the headline,
    counts per status, the best candidate, the running best, the Pareto front and the
    controller's statistics."""
    return {
        "meta": run_meta(settings, scan.meta, objective),
        "counts": counts(scan.rows),
        "best": best(scan.rows, objective),
        "running_best": running_best(scan.rows),
        "pareto": pareto(scan.rows),
        "controller": controller(scan.meta),
    }


def candidate_row(db: sqlite3.Connection, index: int) -> dict[str, Any] | None:
    """Candidate `index`'s whole row, JSON columns decoded; None when there is no such row."""
    rows = select_rows(db, index)
    return rows[0] if rows else None


def genotype_of(db: sqlite3.Connection, index: int) -> str | None:
    """Candidate `index`'s genotype text (the diagram needs nothing else)."""
    row = db.execute("SELECT genotype FROM candidates WHERE id = ?", (index,)).fetchone()
    return None if row is None else row[0]
