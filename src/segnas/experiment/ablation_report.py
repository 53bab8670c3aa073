"""Report of `segnas experiment ablation`: reward distributions per setup and paired steps.

Built from the score records alone, so it can be rewritten from a finished (or half-finished)
experiment without training anything. Figures are Agg `Figure`s, as in `segnas.report.plots`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from segnas.experiment import ablation_stats as stats
from segnas.experiment.ablation_scores import DONE, Record
from segnas.experiment.setup_runs import failure_lines
from segnas.report.plots import note_empty, save_figure
from segnas.run_dir import atomic_write_text

STAGES = ("stage1", "stage2")
LABEL = {"stage1": "stage-1", "stage2": "stage-2"}
Table = Mapping[str, Sequence[Record | None]]
"""Per setup, one record per design (None: not run yet), designs in the same order."""


def rewards(records: Sequence[Record | None], stage: str) -> list[float | None]:
    """One setup's rewards at `stage`, None for failed or missing candidates."""
    return [
        r[f"{stage}_reward"] if r is not None and r["status"] == DONE else None for r in records
    ]


def steps(setups: Sequence[str]) -> list[tuple[str, str]]:
    """Consecutive pairs: each setup against the one before it."""
    return list(zip(setups[:-1], setups[1:]))


def summarize(table: Table) -> dict[str, Any]:
    """Per stage: each setup's n, mean and median, and each step's paired comparison; per
    setup: how many candidates were scored, failed or not run yet."""
    setups = list(table)
    out: dict[str, Any] = {"counts": {}, "stages": {}}
    for setup, records in table.items():
        out["counts"][setup] = {
            "done": sum(r is not None and r["status"] == DONE for r in records),
            "failed": sum(r is not None and r["status"] != DONE for r in records),
            "missing": sum(r is None for r in records),
        }
    for stage in STAGES:
        values = {s: rewards(table[s], stage) for s in setups}
        out["stages"][stage] = {
            "setups": {s: stats.describe(v) for s, v in values.items()},
            "steps": [
                {"before": a, "after": b, **stats.compare(values[a], values[b])}
                for a, b in steps(setups)
            ],
        }
    return out


# --------------------------------------------------------------------------- figure


def plot_stage(table: Table, stage: str, path: str | Path) -> Path:
    """Box per setup of the designs' rewards, each design's rewards joined by a grey line, so
    both the shift of the distribution and the paired changes show (the paper's Fig. 3)."""
    figure = Figure(figsize=(7.5, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    setups = list(table)
    values = {s: rewards(table[s], stage) for s in setups}
    columns = np.array([[np.nan if v is None else v for v in values[s]] for s in setups], float)
    x = np.arange(1, len(setups) + 1)
    if columns.size and np.isfinite(columns).any():
        for design in columns.T:
            axes.plot(x, design, color="0.55", lw=0.8, alpha=0.6, marker="o", ms=3, zorder=1)
        data = [col[np.isfinite(col)] for col in columns]
        axes.boxplot(
            data,
            positions=x,
            widths=0.45,
            showmeans=True,
            patch_artist=True,
            boxprops={"facecolor": "tab:blue", "alpha": 0.25},
            medianprops={"color": "tab:blue", "lw": 1.6},
            meanprops={"marker": "D", "markerfacecolor": "tab:orange", "markeredgecolor": "none"},
        )
    else:
        note_empty(axes, f"no {LABEL[stage]} rewards yet")
    axes.set_xticks(x, [f"{s}\n(n={int(np.isfinite(c).sum())})" for s, c in zip(setups, columns)])
    axes.set_xlim(0.5, len(setups) + 0.5)
    axes.set_ylabel(f"{LABEL[stage]} reward")
    axes.set_title(
        f"{LABEL[stage]} reward per setup: box, mean (diamond), lines join one design's rewards"
    )
    axes.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)


# --------------------------------------------------------------------------- markdown


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _step_row(step: dict[str, Any]) -> str:
    ci = step["ci"]
    interval = "" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]"
    share = step["share_improved"]
    improved = "-" if share is None else f"{share:.0%} of {step['n']}"
    return (
        f"| {step['before']} → {step['after']} | {step['n']} | {_signed(step['mean_diff'])}"
        f"{interval} | {_signed(step['median_diff'])} | {improved} | {_p(step['p_value'])} |"
    )


def _reading(step: dict[str, Any], stage: str) -> str:
    p = step["p_value"]
    why = "no design changed" if p is None else f"p={_p(p)}"
    if step["n"] == 0:
        why = "no design scored under both"
    answer = "yes" if step["raises"] else "no"
    return (
        f"- {step['after']} over {step['before']} raises the {LABEL[stage]} reward "
        f"distribution: {answer} ({why})"
    )


def render_markdown(
    summary: dict[str, Any], *, command: str, about: Sequence[str], failures: Sequence[str]
) -> str:
    """experiment.md: the command, what was run, per stage a table of setups and of steps with
    a plain reading of each step, the figures, and the failures."""
    lines = ["# Ablation: Polyak averaging, auxiliary cells, distillation", "", "Made by:", ""]
    lines += ["```", command, "```", "", *about, ""]
    lines += ["| setup | scored | failed | not run yet |", "|---|---|---|---|"]
    for setup, c in summary["counts"].items():
        lines.append(f"| {setup} | {c['done']} | {c['failed']} | {c['missing']} |")
    for stage, block in summary["stages"].items():
        lines += [
            "",
            f"## {LABEL[stage].capitalize()} rewards",
            "",
            "| setup | n | mean | median |",
            "|---|---|---|---|",
        ]
        for setup, d in block["setups"].items():
            lines.append(f"| {setup} | {d['n']} | {_num(d['mean'])} | {_num(d['median'])} |")
        if block["steps"]:
            lines += [
                "",
                f"| step | pairs | mean difference [{stats.CONFIDENCE:.0%} CI] | median difference "
                "| designs improved | Wilcoxon p |",
                "|---|---|---|---|---|---|",
            ]
            lines += [_step_row(step) for step in block["steps"]]
            lines += ["", *(_reading(step, stage) for step in block["steps"])]
    lines += [
        "",
        "Differences are after minus before, per design. The interval is a percentile "
        f"bootstrap ({stats.RESAMPLES} resamples, seed {stats.BOOTSTRAP_SEED}); p is the "
        f'two-sided Wilcoxon signed-rank test; "yes" needs p < {stats.ALPHA} and a positive '
        "mean difference. Failed candidates are left out of every figure.",
        "",
        "## Figures",
        "",
        "![stage-1 rewards per setup](ablation_stage1.png)",
        "",
        "![stage-2 rewards per setup](ablation_stage2.png)",
        "",
    ]
    return "\n".join([*lines, *failure_lines(failures)])


def write_report(
    exp_dir: str | Path,
    table: Table,
    *,
    command: str,
    about: Sequence[str],
    extra: Mapping[str, Any],
    failures: Sequence[str] = (),
) -> Path:
    """Write ablation.json (summary, raw records, `extra`), the two figures and experiment.md;
    returns experiment.md."""
    exp_dir = Path(exp_dir)
    summary = summarize(table)
    raw = {setup: list(records) for setup, records in table.items()}
    payload = {**extra, "summary": summary, "records": raw}
    atomic_write_text(
        exp_dir / "ablation.json", json.dumps(payload, indent=1, allow_nan=False) + "\n"
    )
    for stage in STAGES:
        plot_stage(table, stage, exp_dir / f"ablation_{stage}.png")
    path = exp_dir / "experiment.md"
    text = render_markdown(summary, command=command, about=about, failures=failures)
    atomic_write_text(path, text)
    return path
