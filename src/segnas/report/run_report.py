"""The report of a search run: `RUN_DIR/report.md` with figures and diagrams, a console summary,
and `segnas report RUN_DIR [--json]`.

Everything is read from the run directory alone (`config.yaml` and `search.sqlite`), and the store
is opened read-only, so a report can be made while the search is still writing to it (WAL mode
lets readers and the one writer go on side by side); unfinished candidates show as `running`.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segnas.genotype import parse
from segnas.report.pareto import front_json, front_markdown, plot_pareto
from segnas.report.plots import plot_cost, plot_rewards, plot_stage_rewards
from segnas.run_dir import atomic_write_text, read_overrides
from segnas.search.objective import ObjectiveSettings, objective_from
from segnas.search.rescore import load_rescore, rescored_best
from segnas.search.store import (
    FAILED,
    FINISHED,
    OVER_BUDGET,
    RUNNING,
    STATUSES,
    NotASearchRun,
    ranked,
    read_candidates,
    read_meta,
    summary,
)

__all__ = ["load_run", "render_summary", "report_json", "write_report"]
TOP_TABLE, TOP_DIAGRAMS = 10, 3
FIGURES = {"rewards.png": plot_rewards, "stages.png": plot_stage_rewards, "cost.png": plot_cost}


def _seconds(row: dict[str, Any]) -> float:
    return float(sum((row["seconds"] or {}).values()))


def load_run(run_dir: str | Path, objective: ObjectiveSettings | None = None) -> dict[str, Any]:
    """What a report needs, read once; rows ranked by `objective` (default: the run's own).

    Keys: `run_dir`, `rows` (store rows), `summary` (`candidates`, `best`), `config` (the text of
    config.yaml, "" if missing), `settings` (that text parsed), `counts` (rows per status, all four
    statuses present), `reused` (rows copying an earlier result), `seconds` (compute time summed
    over candidates), `started_at` (first start) and `finished_at` (last finish), as Unix times
    or None, `wall_seconds` between the first start and the last event, `rescore` (rescore.json
    or None) and `overrides` (settings changed on resume, from overrides.jsonl).
    """
    run_dir = Path(run_dir)
    store, config_file = run_dir / "search.sqlite", run_dir / "config.yaml"
    if not store.is_file():
        why = "no candidate started yet" if config_file.is_file() else "not a search run"
        raise NotASearchRun(f"{run_dir}: {why} (no search.sqlite)")
    rows = read_candidates(store)
    config = config_file.read_text(encoding="utf-8") if config_file.is_file() else ""
    try:
        settings = yaml.safe_load(config)
    except yaml.YAMLError:
        settings = None
    own = objective_from(settings if isinstance(settings, dict) else None)
    objective = objective or own
    starts = [r["started_at"] for r in rows]
    ends = [r["finished_at"] for r in rows if r["finished_at"] is not None]
    started = min(starts, default=None)
    return {
        "run_dir": run_dir,
        "rows": rows,
        "summary": summary(rows, objective),
        "config": config,
        "settings": settings if isinstance(settings, dict) else {},
        "counts": {s: sum(r["status"] == s for r in rows) for s in STATUSES},
        "reused": sum(r["reused_from"] is not None for r in rows),
        "seconds": sum(_seconds(r) for r in rows),
        "started_at": started,
        "finished_at": max(ends, default=None),
        "wall_seconds": None if started is None else max(starts + ends) - started,
        "rescore": load_rescore(run_dir),
        "overrides": read_overrides(run_dir),
        "objective": objective,
        "reranked": objective != own,
        "stopped": read_meta(store).get("stopped"),
    }


HEADLINES = (("mean_iou", "mIoU"), ("delta1", "δ<1.25"), ("pckh", "PCKh"))
"""The figure shown beside a candidate's rewards: segmentation's, depth's or pose's."""


def headline(row: dict[str, Any]) -> tuple[str, float | None]:
    """(label, value) of the task's main figure at the last stage the candidate ran."""
    metrics = row["stage2_metrics"] or row["stage1_metrics"] or {}
    for key, label in HEADLINES:
        if key in metrics:
            return label, metrics[key]
    return "mIoU", None


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _millions(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.2f}"


def _when(timestamp: float | None) -> str:
    return (
        "-" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _first_line(row: dict[str, Any]) -> str:
    text = (row["failure"] or row["traceback"] or "no reason recorded").strip()
    return text.splitlines()[0] if text else "no reason recorded"


def _code(text: str) -> str:
    """Inline code; a backtick inside would end it early, so it becomes a quote."""
    return "`" + text.replace("`", "'") + "`"


def _top_columns(row: dict[str, Any], rank: int) -> list[str]:
    return [
        str(rank),
        str(row["id"]),
        _num(row["reward"]),
        _num(row["stage1_reward"]),
        _num(row["stage2_reward"]),
        _millions(row["params"]),
        _millions(row["madds"]),
        f"{_seconds(row):.1f}",
        row["status"],
    ]


TOP_HEADER = [
    "rank",
    "id",
    "reward",
    "stage 1",
    "stage 2",
    "params (M)",
    "madds (M)",
    "seconds",
    "status",
]


CONSOLE_HEADER = [
    "#",
    "id",
    "reward",
    "stage\n1",
    "stage\n2",
    "params\n(M)",
    "madds\n(M)",
    "seconds",
    "status",
]
"""`TOP_HEADER` folded onto two lines, without table edges, so the table fits 80 columns."""


def _header(run: dict[str, Any]) -> list[str]:
    settings, counts = run["settings"], run["counts"]
    finished = sum(counts[s] for s in FINISHED)
    budget = settings.get("budget") if isinstance(settings.get("budget"), int) else None
    state = "in progress" if counts[RUNNING] or (budget and finished < budget) else "finished"
    by_status = ", ".join(f"{s} {counts[s]}" for s in STATUSES)
    if run["reused"]:
        by_status += (
            f"; {run['reused']} of them reused the result of the same design scored earlier "
            "(not trained again, listed once below)"
        )
    return [
        f"# Search report: {run['run_dir'].name}",
        "",
        f"- run directory: `{run['run_dir']}`",
        f"- strategy: {settings.get('strategy', '?')}, budget: {budget or '?'}, "
        f"dataset: `{settings.get('data', '?')}`, encoder: {settings.get('encoder', '?')}",
        f"- candidates: {finished} finished of {budget or '?'} ({state}); {by_status}",
        f"- ranked by: {run['objective'].describe()}"
        + (" (not the run's own objective: re-ranked)" if run["reranked"] else ""),
        *([f"- stopped early: {run['stopped']}"] if run["stopped"] else []),
        f"- started {_when(run['started_at'])}, last finish {_when(run['finished_at'])}, "
        f"wall time {_duration(run['wall_seconds'])}, "
        f"compute time {_duration(run['seconds'])}",
        "",
    ]


def _best(run: dict[str, Any]) -> list[str]:
    best = run["summary"]["best"]
    if best is None:
        return ["## Best design", "", "No scored candidate yet.", ""]
    row = next(r for r in run["rows"] if r["id"] == best["id"])
    label, value = headline(row)
    return [
        "## Best design",
        "",
        f"- candidate #{row['id']} ({row['status']}), reward **{_num(row['reward'])}**",
        f"- stage-1 reward {_num(row['stage1_reward'])}, "
        f"stage-2 reward {_num(row['stage2_reward'])}, {label} {_num(value)}",
        f"- {_millions(row['params'])} M parameters, {_millions(row['madds'])} M multiply-adds "
        "(search-time network)",
        "",
        "```",
        row["genotype"],
        "```",
        "",
        "```sh",
        f"segnas describe '{row['genotype']}'",
        f"segnas train {run['run_dir']}:best",
        "```",
        "",
    ]


def _rescored(run: dict[str, Any]) -> list[str]:
    rescore = run["rescore"]
    if not rescore or not rescore.get("designs"):
        return []
    best = rescored_best(rescore)
    lines = [
        "## Re-scored with fresh seeds",
        "",
        f"The leading designs trained again with evaluation seeds {rescore['eval_seeds']}, which "
        "no candidate of the search used. A single draw favours the lucky; the mean of fresh "
        f"draws does not, so `RUN_DIR:best` is the best mean: candidate #{best['id']}.",
        "",
        "| candidate | search reward | fresh rewards | mean |",
        "|---|---|---|---|",
    ]
    for d in rescore["designs"]:
        fresh = ", ".join(_num(r) for r in d["rewards"])
        lines.append(f"| #{d['id']} | {_num(d['search_reward'])} | {fresh} | {_num(d['mean'])} |")
    return [*lines, ""]


def _overrides(run: dict[str, Any]) -> list[str]:
    if not run["overrides"]:
        return []
    lines = ["## Settings changed on resume", ""]
    for entry in run["overrides"]:
        lines += [f"- {entry['time']}: {_code(change)}" for change in entry["changed"]]
        if entry["filled"]:
            fields = ", ".join(entry["filled"])
            lines.append(f"- {entry['time']}: filled from defaults (older config.yaml): {fields}")
    return [*lines, ""]


def _top_table(top: list[dict[str, Any]]) -> list[str]:
    if not top:
        return [f"## Top {TOP_TABLE}", "", "No scored candidate yet.", ""]
    lines = [
        f"## Top {TOP_TABLE}",
        "",
        "| " + " | ".join(TOP_HEADER) + " |",
        "|" + "---|" * len(TOP_HEADER),
    ]
    lines += ["| " + " | ".join(_top_columns(r, k)) + " |" for k, r in enumerate(top, 1)]
    return [*lines, ""]


def _figures(diagrams: list[tuple[dict[str, Any], str]]) -> list[str]:
    lines = ["## Figures", ""]
    lines += [f"![{name}](report/{name})" for name in FIGURES]
    lines += ["", "## Top designs", ""]
    for k, (row, name) in enumerate(diagrams, 1):
        lines += [
            f"### {k}. candidate #{row['id']}, reward {_num(row['reward'])}",
            "",
            _code(row["genotype"]),
            "",
            f"![candidate {row['id']}](report/{name})",
            "",
        ]
    if not diagrams:
        lines += ["No scored candidate yet.", ""]
    return lines


def _running_and_failures(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    running = [r for r in rows if r["status"] == RUNNING]
    if running:
        lines += ["## Running", ""]
        lines += [
            f"- #{r['id']}: started {_when(r['started_at'])}, attempt {r['attempts']}, "
            f"{_code(r['genotype'])}"
            for r in running
        ]
        lines.append("")
    failed = [r for r in rows if r["status"] == FAILED]
    lines += ["## Failures", ""]
    lines += [f"- #{r['id']}: {_code(_first_line(r))}" for r in failed] or ["None."]
    return [*lines, ""]


def render_markdown(run: dict[str, Any], diagrams: list[tuple[dict[str, Any], str]]) -> str:
    """report.md from `load_run` and the (row, file name) of each drawn top design."""
    top = ranked(run["rows"], objective=run["objective"])[:TOP_TABLE]
    parts = [
        _header(run),
        _best(run),
        _rescored(run),
        _overrides(run),
        _top_table(top),
        front_markdown(run["rows"], run["objective"]),
        _figures(diagrams),
        _running_and_failures(run["rows"]),
    ]
    return "\n".join(line for part in parts for line in part)


def _draw_top(run: dict[str, Any], folder: Path) -> list[tuple[dict[str, Any], str]]:
    """Diagrams of the best designs as top1.svg, top2.svg, ...; stale ones are removed."""
    from segnas.encoders import ENCODER_TAPS
    from segnas.report.diagram import draw_genotype

    taps = ENCODER_TAPS.get(run["settings"].get("encoder"), ENCODER_TAPS["mobilenet_v2"])
    drawn = []
    for k, row in enumerate(ranked(run["rows"], objective=run["objective"])[:TOP_DIAGRAMS], 1):
        name = f"top{k}.svg"
        title = f"#{k}: candidate {row['id']}, reward {row['reward']:.4f}"
        draw_genotype(
            parse(row["genotype"]),
            folder / name,
            tap_strides=taps.strides,
            tap_channels=taps.channels,
            title=title,
        )
        drawn.append((row, name))
    for stale in set(folder.glob("top*.svg")) - {folder / name for _, name in drawn}:
        stale.unlink()
    return drawn


def write_report(run_dir: str | Path, objective: ObjectiveSettings | None = None) -> Path:
    """(Re)write RUN_DIR/report.md and RUN_DIR/report/ (figures, diagrams); returns report.md.
    `objective` re-ranks the run (default: its own)."""
    run = load_run(run_dir, objective)
    folder = run["run_dir"] / "report"
    folder.mkdir(exist_ok=True)
    for name, plot in FIGURES.items():
        plot(run["rows"], folder / name)
    plot_pareto(run["rows"], folder / "pareto.png", run["objective"])
    diagrams = _draw_top(run, folder)
    path = run["run_dir"] / "report.md"
    atomic_write_text(path, render_markdown(run, diagrams))
    return path


def render_summary(
    run_dir: str | Path,
    console: Console,
    top: int = TOP_TABLE,
    objective: ObjectiveSettings | None = None,
) -> None:
    """The top designs and the best one, for the end of `segnas search` and `segnas report`."""
    run = load_run(run_dir, objective)
    counts = ", ".join(f"{s} {n}" for s, n in run["counts"].items())
    counts += f", reused {run['reused']}" if run["reused"] else ""
    table = Table(
        title=f"top designs of {escape(str(run['run_dir']))} ({counts})",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        show_edge=False,
        pad_edge=False,
    )
    for k, name in enumerate(CONSOLE_HEADER):
        last = k == len(CONSOLE_HEADER) - 1
        table.add_column(name, justify="left" if last else "right", no_wrap=True)
    for k, row in enumerate(ranked(run["rows"], objective=run["objective"])[:top], 1):
        table.add_row(*_top_columns(row, k))
    console.print(table)
    console.print(f"ranked by {run['objective'].describe()}")
    _print_front(run, console)
    best = run["summary"]["best"]
    if best is None:
        console.print("no scored candidate yet")
        return
    console.print(
        f"[bold]best[/bold] #{best['id']} reward {best['reward']:.4f}: {escape(best['genotype'])}"
    )
    again = rescored_best(run["rescore"])
    if again is not None:
        console.print(
            f"[bold]re-scored best[/bold] #{again['id']}: mean {again['mean']:.4f} over "
            f"{len(again['rewards'])} fresh seed(s) (search draw {again['search_reward']:.4f})"
        )
    console.print(f"  segnas train {escape(str(run['run_dir']))}:best")


def _print_front(run: dict[str, Any], console: Console) -> None:
    """The Pareto front as a short console table (when the run measured latency)."""
    front = front_json(run["rows"], run["objective"])
    if "latency_ms" not in front["axes"] or not front["designs"]:
        return
    table = Table(
        title="Pareto front (reward, deployed latency, parameters)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for name in ("id", "reward", "latency ms", "params M", "objective"):
        table.add_column(name, justify="right")
    for d in front["designs"]:
        table.add_row(
            str(d["id"]),
            _num(d["reward"]),
            f"{d['latency_ms']:.1f}",
            _millions(d["params"]),
            _num(d["objective"]),
        )
    console.print(table)
    over = run["counts"][OVER_BUDGET]
    if over:
        console.print(f"{over} designs were over the latency cap (measured, not trained)")


def report_json(run_dir: str | Path, objective: ObjectiveSettings | None = None) -> dict[str, Any]:
    """`summary()` of the store (`candidates`, `best`) plus `counts` by status, `reused` (rows
    that copy an earlier result; counted in `counts` under their status too), `objective` (what
    ranked them), `pareto` (the front's axes and designs), `stopped` (why the search stopped
    early, or None) and, when the run re-scored its leading designs, `rescored` (rescore.json)
    and `rescored_best`."""
    run = load_run(run_dir, objective)
    return {
        **run["summary"],
        "counts": run["counts"],
        "reused": run["reused"],
        "objective": asdict(run["objective"]),
        "pareto": front_json(run["rows"], run["objective"]),
        "stopped": run["stopped"],
        "rescored": run["rescore"],
        "rescored_best": rescored_best(run["rescore"]),
    }
