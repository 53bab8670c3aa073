"""The report of `segnas experiment aux`: each design's figure per setup, which setup was best
how often, paired comparisons of the auxiliary cells with the other setups, and a bar chart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from segnas.experiment import ablation_stats as stats
from segnas.experiment.ablation_report import _num, _p, _step_row
from segnas.experiment.ablation_scores import Record
from segnas.experiment.setup_runs import failure_lines
from segnas.experiment.source_run import metric_of
from segnas.report.plots import note_empty, save_figure
from segnas.run_dir import atomic_write_text

Records = Mapping[str, Sequence[Record | None]]
"""Per setup, one record (or None: not run yet) per design, in the designs' order."""
REFERENCE = "cells"
"""The setup the others are compared with."""


def best_setup(values: Mapping[str, float | None]) -> str | None:
    """The setup with the highest figure; `tie` when several share it; None when any setup of
    the design has no figure (failed or not run: no fair winner)."""
    if not values or any(v is None for v in values.values()):
        return None
    top = max(values.values())  # type: ignore[type-var]
    winners = [s for s, v in values.items() if v == top]
    return winners[0] if len(winners) == 1 else "tie"


def summarize_aux(rows: Sequence[dict[str, Any]], records: Records, key: str) -> dict[str, Any]:
    """Per design its figures and best setup; per setup n/mean/median; best-setup counts; and
    the reference setup against each other one (paired: after = cells, before = the other)."""
    setups = list(records)
    designs = []
    for i, row in enumerate(rows):
        values = {s: metric_of(records[s][i], key) for s in setups}
        rewards = {s: metric_of(records[s][i], "stage2_reward", top=True) for s in setups}
        designs.append(
            {
                "id": row["id"],
                "genotype": row["genotype"],
                "search_reward": row.get("reward"),
                "values": values,
                "rewards": rewards,
                "best": best_setup(values),
            }
        )
    column = {s: [d["values"][s] for d in designs] for s in setups}
    counts = {s: sum(d["best"] == s for d in designs) for s in [*setups, "tie"]}
    comparisons = []
    if REFERENCE in setups:
        for other in setups:
            if other != REFERENCE:
                step = stats.compare(column[other], column[REFERENCE])
                comparisons.append({"before": other, "after": REFERENCE, **step})
    return {
        "metric": key,
        "designs": designs,
        "setups": {s: stats.describe(column[s]) for s in setups},
        "best_counts": counts,
        "decided": sum(d["best"] is not None for d in designs),
        "comparisons": comparisons,
    }


def plot_aux(summary: dict[str, Any], label: str, path: str | Path) -> Path:
    """One group of bars per design (its figure under each setup), best setup outlined."""
    designs = summary["designs"]
    setups = list(summary["setups"])
    figure = Figure(figsize=(max(6.0, 1.2 * len(designs) + 2), 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    values = np.array(
        [[np.nan if d["values"][s] is None else d["values"][s] for s in setups] for d in designs],
        dtype=float,
    )
    if values.size and np.isfinite(values).any():
        width = 0.8 / len(setups)
        x = np.arange(len(designs))
        colours = ("tab:blue", "tab:orange", "tab:grey")
        for j, setup in enumerate(setups):
            axes.bar(
                x + (j - (len(setups) - 1) / 2) * width,
                np.nan_to_num(values[:, j]),
                width,
                label=setup,
                color=colours[j % len(colours)],
            )
        axes.set_xticks(x, [f"#{d['id']}" for d in designs])
        low = np.nanmin(values)
        axes.set_ylim(max(0.0, low - 0.1 * (np.nanmax(values) - low + 1e-6) - 0.02), None)
        axes.legend(title="auxiliary heads", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        note_empty(axes, f"no {label} yet")
    axes.set_xlabel("design (search candidate id)")
    axes.set_ylabel(f"{label} after longer training")
    axes.set_title(f"{label} per design and auxiliary setup")
    axes.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)


def _reading(summary: dict[str, Any], label: str) -> list[str]:
    designs, counts = summary["designs"], summary["best_counts"]
    if REFERENCE not in summary["setups"] or not designs:
        return []
    others = [s for s in summary["setups"] if s != REFERENCE]
    beats_all = sum(
        all(
            d["values"][REFERENCE] is not None
            and d["values"][o] is not None
            and d["values"][REFERENCE] > d["values"][o]
            for o in others
        )
        for d in designs
    )
    holds = beats_all > len(designs) / 2
    lines = [
        f"- Auxiliary cells beat {' and '.join(others)} for most designs: "
        f"{'yes' if holds else 'no'} ({beats_all} of {len(designs)} designs; best setup counts: "
        + ", ".join(f"{s} {n}" for s, n in counts.items() if n or s != "tie")
        + ")."
    ]
    for c in summary["comparisons"]:
        answer = "yes" if c["raises"] else "no"
        lines.append(
            f"- {c['after']} raises {label} over {c['before']} (paired, Wilcoxon p < "
            f"{stats.ALPHA}): {answer} (p={_p(c['p_value'])}, {c['n']} designs)."
        )
    return lines


def render_aux_markdown(
    summary: dict[str, Any],
    *,
    label: str,
    command: str,
    about: Sequence[str],
    failures: Sequence[str],
) -> str:
    """experiment.md: the command, what was run, the per-design table, counts, comparisons, a
    plain reading, the figure and the failures."""
    setups = list(summary["setups"])
    lines = ["# Auxiliary cells against plain classifiers and none", "", "Made by:", ""]
    lines += ["```", command, "```", "", *about, "", f"## {label} per design", ""]
    lines += [
        "| design | search reward | " + " | ".join(setups) + " | best |",
        "|---|---|" + "---|" * len(setups) + "---|",
    ]
    for d in summary["designs"]:
        cells = " | ".join(_num(d["values"][s], 4) for s in setups)
        lines.append(
            f"| #{d['id']} | {_num(d['search_reward'], 4)} | {cells} | {d['best'] or '-'} |"
        )
    lines += ["", "| setup | n | mean | median | best for |", "|---|---|---|---|---|"]
    for s, d in summary["setups"].items():
        lines.append(
            f"| {s} | {d['n']} | {_num(d['mean'], 4)} | {_num(d['median'], 4)} | "
            f"{summary['best_counts'][s]} of {summary['decided']} |"
        )
    if summary["best_counts"].get("tie"):
        lines.append(f"\nTies: {summary['best_counts']['tie']}.")
    if summary["comparisons"]:
        lines += [
            "",
            f"| comparison | pairs | mean difference [{stats.CONFIDENCE:.0%} CI] | median "
            "difference | designs improved | Wilcoxon p |",
            "|---|---|---|---|---|---|",
            *(_step_row(c) for c in summary["comparisons"]),
        ]
    lines += ["", "## Reading", "", *_reading(summary, label)]
    lines += [
        "",
        f"Differences are {REFERENCE} minus the other setup, per design; the interval is a "
        f"percentile bootstrap ({stats.RESAMPLES} resamples, seed {stats.BOOTSTRAP_SEED}); with "
        "few designs the Wilcoxon test has little power (5 designs: p >= 0.0625 at best), so "
        "the counts carry the claim.",
        "",
        "![figure per design and setup](aux.png)",
        "",
    ]
    return "\n".join([*lines, *failure_lines(failures)])


def write_aux_report(
    exp_dir: str | Path,
    rows: Sequence[dict[str, Any]],
    records: Records,
    *,
    metric: tuple[str, str],
    command: str,
    about: Sequence[str],
    extra: Mapping[str, Any],
    failures: Sequence[str] = (),
) -> Path:
    """Write aux.json (summary, raw records, `extra`), aux.png and experiment.md; returns
    experiment.md."""
    exp_dir = Path(exp_dir)
    key, label = metric
    summary = summarize_aux(rows, records, key)
    payload = {**extra, "summary": summary, "records": {s: list(r) for s, r in records.items()}}
    atomic_write_text(exp_dir / "aux.json", json.dumps(payload, indent=1, allow_nan=False) + "\n")
    plot_aux(summary, label, exp_dir / "aux.png")
    path = exp_dir / "experiment.md"
    text = render_aux_markdown(
        summary, label=label, command=command, about=about, failures=failures
    )
    atomic_write_text(path, text)
    return path
