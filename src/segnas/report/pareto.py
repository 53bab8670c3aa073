"""The Pareto front of a search: designs no other design beats on reward, deployed latency and
parameters at once.

A user with a latency budget reads the front, not the top of the reward ranking: every design
off it has a rival that is at least as accurate, as fast and as small, and better in one. When
the run did not measure latency, the front is over reward and parameters alone (and says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segnas.report.plots import STYLE, new_figure, note_empty, pareto_front, save_figure
from segnas.search.objective import ObjectiveSettings
from segnas.search.store import SCORED

Row = dict[str, Any]


def _axes(row: Row, with_latency: bool) -> tuple[float, ...]:
    """The row as a point to minimise on every axis: (-reward, latency, params)."""
    point = (-row["reward"], float(row["params"] or 0))
    return (point[0], row["latency_ms"], point[1]) if with_latency else point


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether point `a` is no worse than `b` on every axis and better on one (minimising)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def front_rows(rows: Sequence[Row]) -> tuple[list[Row], bool]:
    """(rows on the front, fastest first, ties by reward; whether latency was one of the axes).

    Candidates: scored rows that trained themselves (a reused row repeats its source). Latency
    is an axis when every candidate has one; equal points are all on the front."""
    candidates = [r for r in rows if r["status"] in SCORED and r.get("reused_from") is None]
    with_latency = bool(candidates) and all(r.get("latency_ms") is not None for r in candidates)
    points = [(_axes(r, with_latency), r) for r in candidates]
    front = [r for p, r in points if not any(dominates(q, p) for q, _ in points)]
    order = (
        (lambda r: (r["latency_ms"], -r["reward"], r["id"]))
        if with_latency
        else (lambda r: (r["params"] or 0, -r["reward"], r["id"]))
    )
    return sorted(front, key=order), with_latency


def front_json(rows: Sequence[Row], objective: ObjectiveSettings) -> dict[str, Any]:
    """`segnas report --json`'s `pareto`: the axes and each front design's figures."""
    front, with_latency = front_rows(rows)
    axes = ["reward", "latency_ms", "params"] if with_latency else ["reward", "params"]
    return {
        "axes": axes,
        "designs": [
            {
                "id": r["id"],
                "genotype": r["genotype"],
                "reward": r["reward"],
                "latency_ms": r.get("latency_ms"),
                "params": r["params"],
                "madds": r["madds"],
                "objective": objective.value(r["reward"], r.get("latency_ms")),
            }
            for r in front
        ],
    }


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def front_markdown(rows: Sequence[Row], objective: ObjectiveSettings) -> list[str]:
    """report.md's "Pareto front" section: a table, then the plot."""
    front, with_latency = front_rows(rows)
    axes = (
        "reward, deployed latency and parameters"
        if with_latency
        else ("reward and parameters (this run did not measure latency)")
    )
    lines = ["## Pareto front", "", f"Designs no other design beats on {axes} at once.", ""]
    if not front:
        return [*lines, "No scored candidate yet.", ""]
    lines += [
        f"| id | reward | latency (ms) | params (M) | madds (M) | {objective.kind} |",
        "|---|---|---|---|---|---|",
    ]
    for r in front:
        value = objective.value(r["reward"], r.get("latency_ms"))
        lines.append(
            f"| #{r['id']} | {r['reward']:.4f} | {_fmt(r.get('latency_ms'), 1)} | "
            f"{(r['params'] or 0) / 1e6:.2f} | {(r['madds'] or 0) / 1e6:.0f} | {_fmt(value, 4)} |"
        )
    return [*lines, "", "![pareto](report/pareto.png)", ""]


def plot_pareto(
    rows: Sequence[Row], path: str | Path, objective: ObjectiveSettings | None = None
) -> Path:
    """Reward against deployed latency (or parameters), the front as a step, the cap as a line."""
    figure, axes = new_figure()
    front, with_latency = front_rows(rows)
    x_of = (lambda r: r["latency_ms"]) if with_latency else (lambda r: (r["params"] or 0) / 1e6)
    scored = [r for r in rows if r["status"] in SCORED and r.get("reused_from") is None]
    for status in SCORED:
        points = [r for r in scored if r["status"] == status]
        if points:
            axes.scatter(
                [x_of(r) for r in points], [r["reward"] for r in points], s=22, **STYLE[status]
            )
    if front:
        steps = pareto_front([(x_of(r), r["reward"]) for r in front])
        axes.step(*zip(*steps), where="post", color="k", lw=1.2, label="front")
        for r in front:
            axes.annotate(
                f"#{r['id']}",
                (x_of(r), r["reward"]),
                fontsize="x-small",
                xytext=(3, 3),
                textcoords="offset points",
            )
        cap = objective.max_latency_ms if objective is not None else None
        if with_latency and cap is not None:
            axes.axvline(cap, color="tab:red", ls="--", lw=1, label=f"cap {cap:g} ms")
        axes.legend(loc="lower right", fontsize="small")
    else:
        note_empty(axes, "no scored candidates yet")
    what = "deployed latency (ms)" if with_latency else "parameters (M)"
    axes.set_xlabel(what)
    axes.set_ylabel("reward")
    axes.set_title(f"Pareto front: {len(front)} of {len(scored)} scored designs")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)
