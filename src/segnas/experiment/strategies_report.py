"""Report of `segnas experiment strategies`: one ordinary search per (strategy, seed), compared.

A single search's best reward is one lucky draw: the winner of many noisy evaluations is biased
upwards (the winner's curse). So strategies are compared on their top designs *re-scored* with
fresh evaluation seeds, averaged over search seeds, with the seed-to-seed spread alongside; the
search-time best and the sample efficiency (candidates needed to match the reference strategy's
best of the same seed) are reported too, since those are what the search itself sees.

Everything here works on plain data (`RunRecord`s built from store rows), so the report can be
rebuilt from finished runs without re-running anything. Figures are `matplotlib.figure.Figure`s
on their own Agg canvas, as in `segnas.report.plots`, so nothing touches pyplot or a display.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from segnas.report.plots import note_empty, save_figure
from segnas.run_dir import atomic_write_text
from segnas.search.store import FAILED

Row = dict[str, Any]

TOP_K = 5
EARLY = 30
"""`curve_above_from_30`: the default strategy should lead the reference within this many."""
PM = "±"
"""Separator of mean and sd in the tables (the format asked for: `0.412 ± 0.021`)."""


@dataclass
class RunRecord:
    """One finished search of the experiment: which strategy, which seed, and what it found."""

    strategy: str
    seed: int
    rows: list[Row]
    """Candidates in id order, as `SearchStore.candidates()` gives them."""
    rescored: list[Row] = field(default_factory=list)
    """Top designs by search reward re-scored with fresh seeds: id, genotype, search_reward,
    rewards (one per fresh seed), mean."""


# --------------------------------------------------------------------------- numbers


def _reward(row: Row) -> float:
    """A candidate's reward as the search saw it: failed, unfinished or missing count as 0."""
    if row.get("status") == FAILED:
        return 0.0
    value = row.get("reward")
    if value is None or not math.isfinite(float(value)):
        return 0.0
    return float(value)


def _curve(rows: Sequence[Row]) -> np.ndarray:
    """Running max of the rewards in id order, over all rows (no budget)."""
    ordered = sorted(rows, key=lambda r: r.get("id", 0))
    rewards = np.array([_reward(r) for r in ordered], dtype=float)
    return np.maximum.accumulate(rewards) if rewards.size else rewards


def best_so_far(rows: Sequence[Row], budget: int) -> np.ndarray:
    """Best reward after each of `budget` candidates, so runs of unequal length line up.

    Failed or missing rewards count as 0.0; a run with fewer rows than `budget` keeps its last
    value (it found nothing better), one with more is cut at `budget`; no rows at all give 0.0.
    """
    curve = _curve(rows)[:budget]
    last = curve[-1] if curve.size else 0.0
    return np.concatenate([curve, np.full(budget - curve.size, last)])


def _spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and sample sd (ddof=1; 0 for one value) of the values present, and how many."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"mean": None, "sd": None, "n": 0}
    sd = float(np.std(present, ddof=1)) if len(present) > 1 else 0.0
    return {"mean": float(np.mean(present)), "sd": sd, "n": len(present)}


def _best_rescored(rescored: Sequence[Row]) -> float | None:
    return max((float(r["mean"]) for r in rescored), default=None)


def _top_rescored(rescored: Sequence[Row], k: int = TOP_K) -> float | None:
    """Mean re-scored value of the (up to) k designs the search ranked highest.

    Picked by search reward, not by the re-scored mean, so the fresh seeds stay unbiased.
    """
    ranked = sorted(rescored, key=lambda r: -float(r.get("search_reward") or 0.0))[:k]
    return float(np.mean([float(r["mean"]) for r in ranked])) if ranked else None


def _candidates_to_reach(rows: Sequence[Row], target: float | None) -> int | None:
    """1-based index of the first candidate whose best-so-far is >= target; None if never."""
    if target is None:
        return None
    hits = np.flatnonzero(_curve(rows) >= target)
    return int(hits[0]) + 1 if hits.size else None


def _above_from(curve: np.ndarray, other: np.ndarray) -> int | None:
    """First 1-based index from which `curve` stays strictly above `other` to the end."""
    above = curve > other
    if not above.size or not above[-1]:
        return None
    below = np.flatnonzero(~above)
    return int(below[-1]) + 2 if below.size else 1


def _strategies(records: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    """Records grouped by strategy in order of first appearance, each group sorted by seed."""
    groups: dict[str, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(record.strategy, []).append(record)
    return {name: sorted(group, key=lambda r: r.seed) for name, group in groups.items()}


def _mean_curves(records: Sequence[RunRecord], budget: int) -> dict[str, np.ndarray]:
    """Per strategy, the best-so-far curves of its seeds stacked (seeds x budget)."""
    return {
        name: np.stack([best_so_far(r.rows, budget) for r in group])
        for name, group in _strategies(records).items()
    }


def summarize(
    records: Sequence[RunRecord],
    reference: str = "random",
    default: str | None = None,
    *,
    budget: int | None = None,
) -> dict[str, Any]:
    """Per-strategy means and seed-to-seed sds, and whether `default` beats `reference`.

    Seed-to-seed sd is the yardstick: a strategy "wins" only if its margin exceeds the
    reference's own spread across seeds. Curves are compared over `budget` candidates (default:
    the longest run). The result is JSON-serialisable (missing values are None).
    """
    groups = _strategies(records)
    if budget is None:
        budget = max((len(r.rows) for r in records), default=0)
    budget = max(int(budget), 1)
    reference_best = {
        r.seed: float(_curve(r.rows)[-1]) if r.rows else 0.0 for r in groups.get(reference, [])
    }
    reference_top5 = {r.seed: _top_rescored(r.rescored) for r in groups.get(reference, [])}
    curves = _mean_curves(records, budget)

    strategies: dict[str, Any] = {}
    for name, group in groups.items():
        per_seed = []
        for record in group:
            target = reference_best.get(record.seed)
            per_seed.append(
                {
                    "seed": record.seed,
                    "candidates": len(record.rows),
                    "best_rescored": _best_rescored(record.rescored),
                    "top5_rescored": _top_rescored(record.rescored),
                    "best_search": float(_curve(record.rows)[-1]) if record.rows else 0.0,
                    "reference_best": target,
                    "candidates_to_reach": _candidates_to_reach(record.rows, target),
                }
            )
        differences = [
            p["top5_rescored"] - reference_top5[p["seed"]]
            for p in per_seed
            if p["top5_rescored"] is not None and reference_top5.get(p["seed"]) is not None
        ]
        paired = [p for p in per_seed if p["reference_best"] is not None]
        reached = [p["candidates_to_reach"] for p in paired if p["candidates_to_reach"]]
        strategies[name] = {
            "seeds": [r.seed for r in group],
            "best_rescored": _spread([p["best_rescored"] for p in per_seed]),
            "top5_rescored": _spread([p["top5_rescored"] for p in per_seed]),
            "best_search": _spread([p["best_search"] for p in per_seed]),
            "top5_minus_reference": {
                **_spread(differences),
                "above": sum(d > 0 for d in differences),
            },
            "reach_reference": {
                "reached": len(reached),
                "paired": len(paired),
                "median": float(statistics.median(reached)) if reached else None,
            },
            "mean_best_so_far": [float(v) for v in curves[name].mean(axis=0)],
            "per_seed": per_seed,
        }

    return {
        "reference": reference,
        "default": default,
        "budget": budget,
        "seeds": sorted({r.seed for r in records}),
        "strategies": strategies,
        "target": _target(strategies, reference, default),
    }


def _target(strategies: dict[str, Any], reference: str, default: str | None) -> dict | None:
    """Does `default` beat `reference` by more than the reference's seed-to-seed sd, early on?"""
    if default is None or default == reference:
        return None
    if default not in strategies or reference not in strategies:
        return None
    mine, theirs = strategies[default]["top5_rescored"], strategies[reference]["top5_rescored"]
    margin = None
    if mine["mean"] is not None and theirs["mean"] is not None:
        margin = mine["mean"] - theirs["mean"]
    reference_sd = theirs["sd"]
    above = _above_from(
        np.asarray(strategies[default]["mean_best_so_far"]),
        np.asarray(strategies[reference]["mean_best_so_far"]),
    )
    return {
        "default": default,
        "reference": reference,
        "top5_margin": margin,
        "reference_sd": reference_sd,
        "beats_by_sd": bool(
            margin is not None and reference_sd is not None and margin > reference_sd
        ),
        "curve_above_from": above,
        "curve_above_from_30": above is not None and above <= EARLY,
    }


# --------------------------------------------------------------------------- figures


def _figure(columns: int = 1) -> tuple[Figure, list]:
    figure = Figure(figsize=(7.5 * columns**0.8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, [figure.add_subplot(1, columns, i + 1) for i in range(columns)]


def plot_best_so_far(records: Sequence[RunRecord], budget: int, path: str | Path) -> Path:
    """Mean best-so-far per strategy with its min-max band over seeds: who gets there first."""
    figure, (axes,) = _figure()
    x = np.arange(1, budget + 1)
    for index, (name, stack) in enumerate(_mean_curves(records, budget).items()):
        color = f"C{index}"
        axes.plot(
            x,
            stack.mean(axis=0),
            color=color,
            lw=1.6,
            label=f"{name} (mean of {len(stack)} seeds)",
        )
        axes.fill_between(x, stack.min(axis=0), stack.max(axis=0), color=color, alpha=0.18, lw=0)
    if records:
        axes.legend(loc="lower right", fontsize="small")
    else:
        note_empty(axes, "no runs")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(1, max(budget, 2))
    axes.set_xlabel("candidates evaluated")
    axes.set_ylabel("best reward so far")
    axes.set_title("best reward so far: mean over seeds, band from min to max")
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def plot_reward_distributions(records: Sequence[RunRecord], path: str | Path) -> Path:
    """Stage-1 and stage-2 rewards of every candidate, per strategy (seeds pooled), same bins.

    Like Fig. 2 of the paper: a strategy that learns shifts its mass to the right of random's.
    """
    figure, panels = _figure(2)
    groups = _strategies(records)
    for axes, key, label in zip(panels, ("stage1_reward", "stage2_reward"), ("stage-1", "stage-2")):
        values = {
            name: [
                float(r[key])
                for rec in group
                for r in rec.rows
                if r.get(key) is not None and math.isfinite(float(r[key]))
            ]
            for name, group in groups.items()
        }
        pooled = [v for vs in values.values() for v in vs]
        if pooled:
            bins = np.histogram_bin_edges(pooled, bins=20)
            for index, (name, vs) in enumerate(values.items()):
                if vs:
                    axes.hist(vs, bins=bins, histtype="stepfilled", alpha=0.25, color=f"C{index}")
                    axes.hist(
                        vs,
                        bins=bins,
                        histtype="step",
                        lw=1.4,
                        color=f"C{index}",
                        label=f"{name} ({len(vs)})",
                    )
            axes.legend(loc="upper left", fontsize="small")
        else:
            note_empty(axes, f"no {label} rewards")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(f"{label} reward")
        axes.set_ylabel("candidates")
        axes.set_title(f"{label} rewards, all seeds pooled")
        axes.grid(alpha=0.3)
    return save_figure(figure, path)


# --------------------------------------------------------------------------- report


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pm(spread: dict[str, Any]) -> str:
    if spread["mean"] is None:
        return "-"
    return f"{spread['mean']:.3f} {PM} {spread['sd']:.3f}"


def _count(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"


def _target_lines(target: dict[str, Any]) -> list[str]:
    default, reference = target["default"], target["reference"]
    margin, sd = target["top5_margin"], target["reference_sd"]
    if margin is None or sd is None:
        lines = [f"- {default} against {reference}: no re-scored designs: target not met."]
    else:
        if margin > 0:
            head = f"{default}'s mean top-5 beats {reference}'s by {margin:.3f}"
        else:
            head = f"{default}'s mean top-5 does not beat {reference}'s (difference {margin:+.3f})"
        relation = "more than" if target["beats_by_sd"] else "not more than"
        met = "target met" if target["beats_by_sd"] else "target not met"
        lines = [f"- {head}, {relation} {reference}'s seed-to-seed sd {sd:.3f}: {met}."]
    above = target["curve_above_from"]
    if above is None:
        lines.append(
            f"- {default}'s mean best-so-far curve does not stay above {reference}'s to the end: "
            f"target not met."
        )
    else:
        met = "target met" if target["curve_above_from_30"] else "target not met"
        lines.append(
            f"- {default}'s mean best-so-far curve stays strictly above {reference}'s from "
            f"candidate {above} on (needed: by candidate {EARLY}): {met}."
        )
    return lines


def render_markdown(summary: dict[str, Any], *, command: str, notes: str = "") -> str:
    """experiment.md from a `summarize` dict: headline table, target, per-seed table, figures."""
    reference = summary["reference"]
    seeds = ", ".join(str(s) for s in summary["seeds"]) or "none"
    lines = [
        "# Search strategies compared",
        "",
        "Made by:",
        "",
        "```",
        command,
        "```",
        "",
        f"Seeds: {seeds}. Budget: {summary['budget']} candidates per run.",
        "",
        "Re-scored values are the search's top designs evaluated again with fresh seeds "
        f"(top-5: the {TOP_K} ranked highest by the search). Values are mean {PM} sd over seeds.",
        "",
        f"| strategy | seeds | best (re-scored) | top-5 (re-scored) "
        f"| top-5 minus {reference}'s, same seed | best (search draw) "
        f"| reached {reference}'s best | median candidates to reach it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, block in summary["strategies"].items():
        reach = block["reach_reference"]
        reached = f"{reach['reached']}/{reach['paired']}" if reach["paired"] else "-"
        diff = block["top5_minus_reference"]
        paired = (
            "-"
            if name == reference or not diff["n"]
            else (f"{_pm(diff)} (above on {diff['above']}/{diff['n']})")
        )
        lines.append(
            f"| {name} | {len(block['seeds'])} | {_pm(block['best_rescored'])} "
            f"| {_pm(block['top5_rescored'])} | {paired} | {_pm(block['best_search'])} "
            f"| {reached} | {_count(reach['median'])} |"
        )
    lines += ["", "## Target", ""]
    target = summary["target"]
    if target is not None:
        lines += _target_lines(target)
    elif summary["default"] in (None, reference):
        lines.append(f"- No default strategy other than {reference} given: nothing to test.")
    else:
        lines.append(f"- {summary['default']} or {reference} has no runs: nothing to test.")
    lines += [
        "",
        "## Per seed",
        "",
        f"| strategy | seed | best (re-scored) | top-5 (re-scored) | best (search draw) "
        f"| candidates to reach {reference}'s best |",
        "|---|---|---|---|---|---|",
    ]
    for name, block in summary["strategies"].items():
        for p in block["per_seed"]:
            reach = "-" if p["reference_best"] is None else str(p["candidates_to_reach"] or "never")
            lines.append(
                f"| {name} | {p['seed']} | {_num(p['best_rescored'])} | {_num(p['top5_rescored'])} "
                f"| {_num(p['best_search'])} | {reach} |"
            )
    lines += [
        "",
        "## Figures",
        "",
        "![best reward so far](best_so_far.png)",
        "",
        "![stage-1 and stage-2 reward distributions](reward_distributions.png)",
        "",
    ]
    if notes:
        lines += ["## Notes", "", notes, ""]
    return "\n".join(lines)


def write_strategies_report(
    exp_dir: str | Path,
    records: Sequence[RunRecord],
    *,
    budget: int,
    command: str,
    reference: str = "random",
    default: str | None = None,
    notes: str = "",
) -> Path:
    """Write experiment.md, best_so_far.png, reward_distributions.png and summary.json.

    Returns the path of experiment.md. summary.json holds every number in the markdown, so the
    comparison can be checked or re-plotted without the runs.
    """
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(records, reference=reference, default=default, budget=budget)
    plot_best_so_far(records, budget, exp_dir / "best_so_far.png")
    plot_reward_distributions(records, exp_dir / "reward_distributions.png")
    atomic_write_text(
        exp_dir / "summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n"
    )
    path = exp_dir / "experiment.md"
    atomic_write_text(path, render_markdown(summary, command=command, notes=notes))
    return path
