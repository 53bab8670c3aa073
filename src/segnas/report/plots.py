"""Figures of a search run: rewards over time, stage-1 against stage-2, accuracy against cost.

Each figure is a `matplotlib.figure.Figure` drawn on its own Agg canvas, so nothing here touches
pyplot's global state or needs a display. Rows are store rows or `summary()` candidates (both have
`id`, `status`, `reward`, `stage1_reward`, `stage2_reward`, `madds`); a run with nothing to plot
gives an empty figure with a note, never an exception, so reports work from the first second.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from segnas.run_dir import atomic_write
from segnas.search.store import DONE, FAILED, OVER_BUDGET, SCORED, STOPPED

Row = dict[str, Any]

STYLE = {
    DONE: {"marker": "o", "color": "tab:blue", "label": "done"},
    STOPPED: {"marker": "^", "color": "tab:orange", "label": "stopped after stage 1"},
    OVER_BUDGET: {"marker": "s", "color": "0.6", "label": "over the latency cap (not trained)"},
    FAILED: {"marker": "x", "color": "tab:red", "label": "failed (reward 0)"},
}


def new_figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(7.5, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def note_empty(axes: Axes, text: str) -> None:
    """A grey message in the middle of an empty plot."""
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", color="0.4")


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write the figure (format from the suffix) whole or not at all: reports are rewritten
    while someone may be looking at them."""
    path = Path(path)
    atomic_write(path, lambda tmp: figure.savefig(tmp, format=path.suffix.lstrip(".") or None))
    return path


def _scored(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r["status"] in SCORED]


def plot_rewards(rows: Sequence[Row], path: str | Path) -> Path:
    """Reward per candidate in index order, marker by status, with the best so far as a step."""
    figure, axes = new_figure()
    finished = sorted((r for r in rows if r["status"] in STYLE), key=lambda r: r["id"])
    for status, style in STYLE.items():
        points = [r for r in finished if r["status"] == status]
        if points:
            rewards = [r["reward"] or 0.0 if status in SCORED else 0.0 for r in points]
            axes.scatter([r["id"] for r in points], rewards, s=22, linewidths=1, **style)
    scored = _scored(finished)
    if scored:
        ids = [r["id"] for r in finished]
        rewards = [r["reward"] if r["status"] in SCORED else 0.0 for r in finished]
        axes.step(
            ids,
            np.maximum.accumulate(rewards),
            where="post",
            color="k",
            lw=1.2,
            label="best so far",
        )
        axes.legend(loc="lower right", fontsize="small")
    else:
        note_empty(axes, "no scored candidates yet" if not finished else "every candidate failed")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("candidate (proposal order)")
    axes.set_ylabel("reward")
    axes.set_title(f"rewards of {len(finished)} finished candidates")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their average rank (what Spearman's rho needs)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts
    return (first + (counts - 1) / 2.0)[inverse]


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def correlations(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """(Spearman, Pearson); None where undefined (under two points, or a constant side)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    pearson = _pearson(x, y)
    return (None if pearson is None else _pearson(_ranks(x), _ranks(y))), pearson


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def plot_stage_rewards(rows: Sequence[Row], path: str | Path) -> Path:
    """Stage-1 against stage-2 reward: how well the cheap first stage predicts the second."""
    figure, axes = new_figure()
    both = [r for r in rows if r["stage1_reward"] is not None and r["stage2_reward"] is not None]
    x = [r["stage1_reward"] for r in both]
    y = [r["stage2_reward"] for r in both]
    if both:
        low, high = min(x + y), max(x + y)
        pad = max(0.02, 0.05 * (high - low))
        axes.plot(
            [low - pad, high + pad],
            [low - pad, high + pad],
            ls="--",
            color="0.5",
            lw=1,
            label="y = x",
        )
        axes.scatter(x, y, s=22, **STYLE[DONE])
        axes.legend(loc="lower right", fontsize="small")
    else:
        note_empty(axes, "no candidate has run both stages yet")
    spearman, pearson = correlations(x, y)
    axes.set_title(f"{len(both)} candidates: Spearman {_fmt(spearman)}, Pearson {_fmt(pearson)}")
    axes.set_xlabel("stage-1 reward")
    axes.set_ylabel("stage-2 reward")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (cost, reward) points no cheaper-or-equal point beats, cheapest first."""
    front: list[tuple[float, float]] = []
    for cost, reward in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or reward > front[-1][1]:
            front.append((cost, reward))
    return front


def plot_cost(rows: Sequence[Row], path: str | Path) -> Path:
    """Reward against multiply-adds of the search-time network, with the accuracy/cost front."""
    figure, axes = new_figure()
    priced = [r for r in _scored(rows) if r["madds"] is not None]
    for status in SCORED:
        points = [r for r in priced if r["status"] == status]
        if points:
            axes.scatter(
                [r["madds"] / 1e6 for r in points],
                [r["reward"] for r in points],
                s=22,
                **STYLE[status],
            )
    if priced:
        front = pareto_front([(r["madds"] / 1e6, r["reward"]) for r in priced])
        axes.step(*zip(*front), where="post", color="k", lw=1.2, label="front")
        axes.legend(loc="lower right", fontsize="small")
    else:
        note_empty(axes, "no scored candidates with a cost yet")
    axes.set_title(f"accuracy against cost, {len(priced)} scored candidates")
    axes.set_xlabel("multiply-adds of the search-time network (M)")
    axes.set_ylabel("reward")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)
