"""The report of `segnas experiment correlation`: per design its search rewards and longer-trained
figure, Spearman's rho with bootstrap intervals between them, and scatter plots."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from segnas.experiment import correlation_stats as stats
from segnas.experiment.ablation_report import _num, _p
from segnas.experiment.ablation_scores import Record
from segnas.experiment.correlation_bands import BANDS
from segnas.experiment.setup_runs import failure_lines
from segnas.experiment.source_run import metric_of
from segnas.report.plots import note_empty, save_figure
from segnas.run_dir import atomic_write_text

GOAL = 0.6
"""The paper's bar: rho between the final search reward and the longer-trained figure."""
FIGURES = {
    "stage1": "search stage-1 reward",
    "stage2": "search stage-2 reward",
    "reward": "search reward",
    "final": "longer-trained {label}",
    "longer_reward": "longer-trained reward",
}
PAIRS = (
    ("stage1", "final"),
    ("stage2", "final"),
    ("reward", "final"),
    ("reward", "longer_reward"),
    ("stage1", "stage2"),
)
"""The correlations reported, the paper's three (against the final figure) first."""
BAND_COLOURS = {"low": "tab:red", "medium": "tab:orange", "high": "tab:green"}


def design_table(
    rows: Sequence[dict[str, Any]], records: Sequence[Record | None], key: str
) -> list[dict[str, Any]]:
    """One entry per design: id, band, genotype and the five figures (None where missing)."""
    return [
        {
            "id": row["id"],
            "band": row["band"],
            "genotype": row["genotype"],
            "stage1": row.get("stage1_reward"),
            "stage2": row.get("stage2_reward"),
            "reward": row.get("reward"),
            "final": metric_of(record, key),
            "longer_reward": metric_of(record, "stage2_reward", top=True),
        }
        for row, record in zip(rows, records)
    ]


def summarize_correlation(
    rows: Sequence[dict[str, Any]], records: Sequence[Record | None], key: str
) -> dict[str, Any]:
    """The design table and, for each pair of figures, n, rho, its interval and p."""
    designs = design_table(rows, records, key)
    correlations = []
    for x, y in PAIRS:
        result = stats.correlate([d[x] for d in designs], [d[y] for d in designs])
        correlations.append({"x": x, "y": y, **result})
    bands = {b: sum(d["band"] == b for d in designs) for b in BANDS}
    return {"metric": key, "designs": designs, "bands": bands, "correlations": correlations}


def _name(figure: str, label: str) -> str:
    return FIGURES[figure].format(label=label)


def _rho_text(c: dict[str, Any]) -> str:
    if c["rho"] is None:
        return f"rho undefined (n={c['n']})"
    ci = "" if c["ci"] is None else f" [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}]"
    return f"rho {c['rho']:.2f}{ci}, n={c['n']}"


def plot_correlation(summary: dict[str, Any], label: str, path: str | Path) -> Path:
    """The longer-trained figure against each search reward, one panel each, bands coloured."""
    panels = [c for c in summary["correlations"] if c["y"] == "final"]
    figure = Figure(figsize=(4.2 * len(panels), 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    for i, c in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), i + 1)
        drawn = False
        for band in BANDS:
            points = [
                (d[c["x"]], d["final"])
                for d in summary["designs"]
                if d["band"] == band and d[c["x"]] is not None and d["final"] is not None
            ]
            if points:
                xy = np.array(points, dtype=float)
                axes.scatter(xy[:, 0], xy[:, 1], s=28, color=BAND_COLOURS[band], label=band)
                drawn = True
        if drawn:
            axes.legend(title="search band", fontsize=8)
        else:
            note_empty(axes, "no pairs yet")
        axes.set_xlabel(_name(c["x"], label))
        axes.set_ylabel(_name("final", label))
        axes.set_title(_rho_text(c), fontsize=10)
        axes.grid(alpha=0.3)
    return save_figure(figure, path)


def _reading(summary: dict[str, Any], label: str) -> list[str]:
    main = next(c for c in summary["correlations"] if (c["x"], c["y"]) == ("reward", "final"))
    if main["rho"] is None:
        return [f"- Spearman between the search reward and the longer-trained {label}: undefined."]
    holds = main["rho"] > GOAL
    sure = main["ci"] is not None and main["ci"][0] > GOAL
    return [
        f"- Spearman between the search reward and the longer-trained {label} is above "
        f"{GOAL} (the paper's bar): {'yes' if holds else 'no'} ({_rho_text(main)})"
        + ("; the whole interval is above it." if sure else "; the interval reaches below it.")
    ]


def render_correlation_markdown(
    summary: dict[str, Any],
    *,
    label: str,
    command: str,
    about: Sequence[str],
    failures: Sequence[str],
) -> str:
    """experiment.md: the command, what was run, the correlations, the reading, the figure and
    the per-design table."""
    lines = ["# Do search rewards predict longer training?", "", "Made by:", ""]
    lines += ["```", command, "```", "", *about, ""]
    lines += ["Designs per band: " + ", ".join(f"{b} {n}" for b, n in summary["bands"].items())]
    lines += [
        "",
        "## Spearman rank correlations",
        "",
        f"| between | and | pairs | rho [{stats.CONFIDENCE:.0%} CI] | p |",
        "|---|---|---|---|---|",
    ]
    for c in summary["correlations"]:
        ci = "" if c["ci"] is None else f" [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]"
        lines.append(
            f"| {_name(c['x'], label)} | {_name(c['y'], label)} | {c['n']} | "
            f"{_num(c['rho'])}{ci} | {_p(c['p_value'])} |"
        )
    lines += ["", "## Reading", "", *_reading(summary, label)]
    lines += [
        "",
        f"Intervals: percentile bootstrap over designs ({stats.RESAMPLES} resamples, seed "
        f"{stats.BOOTSTRAP_SEED}); p: scipy's two-sided test of rho = 0. A design stopped after "
        "stage 1 has no stage-2 reward and is left out of the pairs that need one.",
        "",
        "![longer-trained figure against the search rewards](correlation.png)",
        "",
        "## Designs",
        "",
        f"| design | band | stage-1 | stage-2 | search reward | {label} (longer) | reward "
        "(longer) |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in summary["designs"]:
        figures = " | ".join(
            _num(d[k], 4) for k in ("stage1", "stage2", "reward", "final", "longer_reward")
        )
        lines.append(f"| #{d['id']} | {d['band']} | {figures} |")
    lines.append("")
    return "\n".join([*lines, *failure_lines(failures)])


def write_correlation_report(
    exp_dir: str | Path,
    rows: Sequence[dict[str, Any]],
    records: Sequence[Record | None],
    *,
    metric: tuple[str, str],
    command: str,
    about: Sequence[str],
    extra: Mapping[str, Any],
    failures: Sequence[str] = (),
) -> Path:
    """Write correlation.json (summary, raw records, `extra`), correlation.png and
    experiment.md; returns experiment.md."""
    exp_dir = Path(exp_dir)
    key, label = metric
    summary = summarize_correlation(rows, records, key)
    payload = {**extra, "summary": summary, "records": list(records)}
    text = json.dumps(payload, indent=1, allow_nan=False) + "\n"
    atomic_write_text(exp_dir / "correlation.json", text)
    plot_correlation(summary, label, exp_dir / "correlation.png")
    path = exp_dir / "experiment.md"
    markdown = render_correlation_markdown(
        summary, label=label, command=command, about=about, failures=failures
    )
    atomic_write_text(path, markdown)
    return path
