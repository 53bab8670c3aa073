"""`auto.md`: the found model beside the hand-designed baselines and torchvision's models, with
the task's main figure (mIoU; depth: delta < 1.25), latency (all timed in one process),
parameters and multiply-adds, and a plain verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from segnas.run_dir import atomic_write_text
from segnas.search.objective import objective_from


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def rows_for(run_dir: Path, subjects: list) -> list[dict[str, Any]]:
    """One row per trained model and per compared torchvision model."""
    state = _read(run_dir / "auto.json")["steps"]
    latency = _read(run_dir / "latency.json") or {}
    rows = []
    for subject in subjects:
        evaluated = (_read(run_dir / "train" / subject.name / "eval.json")) or {}
        trained = state.get(f"train:{subject.name}", {}).get("outcome") or {}
        timed = latency.get(subject.name, {})
        rows.append(
            {
                "name": subject.name,
                "kind": subject.kind,
                "design": subject.arch.design,
                "miou": evaluated.get("mean_iou", evaluated.get("delta1")),
                "latency_ms": timed.get("mean_ms"),
                "params": timed.get("params"),
                "madds": timed.get("madds"),
                "train_seconds": trained.get("seconds"),
            }
        )
    named = {s.name for s in subjects}
    for name, timed in latency.items():
        if name not in named:
            rows.append(
                {
                    "name": name,
                    "kind": "torchvision (untrained, timed only)",
                    "design": name,
                    "miou": None,
                    "latency_ms": timed["mean_ms"],
                    "params": timed["params"],
                    "madds": timed["madds"],
                    "train_seconds": None,
                }
            )
    return rows


def verdict(rows: list[dict[str, Any]], cap: float | None, label: str = "mIoU") -> list[str]:
    """Whether the best found model is more accurate than every baseline at equal or lower
    latency, baseline by baseline, in plain words."""
    found = [r for r in rows if r["kind"] == "found" and r["miou"] is not None]
    baselines = [r for r in rows if r["kind"] == "baseline" and r["miou"] is not None]
    if not found:
        return ["No found model was trained."]
    best = max(found, key=lambda r: r["miou"])
    lines = []
    if cap is not None:
        meets = best["latency_ms"] is not None and best["latency_ms"] <= cap
        lines.append(
            f"- {best['name']} runs in {_num(best['latency_ms'], 1)} ms: "
            f"{'within' if meets else 'OVER'} the {cap:g} ms cap."
        )
    wins = 0
    for b in baselines:
        accurate = best["miou"] > b["miou"]
        fast = (best["latency_ms"] or float("inf")) <= (b["latency_ms"] or float("inf"))
        wins += accurate and fast
        lines.append(
            f"- against {b['name']}: {label} {best['miou']:.4f} vs {b['miou']:.4f} "
            f"({'higher' if accurate else 'NOT higher'}), latency {_num(best['latency_ms'], 1)} "
            f"vs {_num(b['latency_ms'], 1)} ms ({'equal or lower' if fast else 'HIGHER'})"
        )
    if baselines:
        goal = "met" if wins == len(baselines) else "not met"
        lines.append(
            f"- goal (more accurate than every baseline at equal or lower latency): **{goal}** "
            f"({wins} of {len(baselines)} baselines beaten on both)"
        )
    return lines


def render(run_dir: Path, subjects: list) -> str:
    settings = yaml.safe_load((run_dir / "auto.yaml").read_text(encoding="utf-8"))
    search = settings["search"]
    objective = objective_from(search)
    rows = rows_for(run_dir, subjects)
    state = _read(run_dir / "auto.json")["steps"]
    searched = state.get("search", {}).get("outcome") or {}
    lat = search["latency"]
    label = "δ<1.25" if search.get("task") == "depth" else "mIoU"
    lines = [
        f"# segnas auto: {run_dir.name}",
        "",
        f"- data: `{search['data']}`, encoder {search['encoder']} ({search['encoder_weights']})",
        f"- search: {search['strategy']}, budget {search['budget']} candidates, objective "
        f"{objective.describe()}; report in `search/report.md`",
        f"- latency: {lat['size']}x{lat['size']}, batch 1, every model timed in this one "
        f"process in {settings['bench_rounds']} rounds of {settings['bench_runs']} passes "
        "(median of the round means), segnas's runtime form of each",
        f"- every trained model: the same encoder, ImageNet file, recipe and data "
        f"({_epochs(settings['train'])} epochs); {label} on the validation split",
    ]
    if searched.get("stopped"):
        lines.append(f"- the search stopped early: {searched['stopped']}")
    lines += [
        "",
        f"| model | kind | {label} | latency (ms) | params (M) | multiply-adds (B) "
        "| training (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        params = None if r["params"] is None else r["params"] / 1e6
        madds = None if r["madds"] is None else r["madds"] / 1e9
        lines.append(
            f"| {r['name']} | {r['kind']} | {_num(r['miou'], 4)} | {_num(r['latency_ms'], 1)} | "
            f"{_num(params, 3)} | {_num(madds, 3)} | {_num(r['train_seconds'], 0)} |"
        )
    lines += ["", "## Verdict", "", *verdict(rows, objective.max_latency_ms, label), ""]
    lines += ["## Designs", ""]
    lines += [f"- {r['name']}: `{r['design']}`" for r in rows if r["kind"] == "found"]
    exports = [(k, v["outcome"]) for k, v in state.items() if k.startswith("export:")]
    if exports:
        lines += ["", "## Exported", ""]
        for step, out in exports:
            ms = out.get("latency_ms")
            timed = f", {ms:.1f} ms in its own runtime" if ms is not None else ""
            lines.append(
                f"- {step.split(':', 1)[1]}: `{out['path']}` (card `{out['card']}`{timed})"
            )
    return "\n".join(lines) + "\n"


def write_summary(run_dir: Path, subjects: list) -> Path:
    path = run_dir / "auto.md"
    atomic_write_text(path, render(run_dir, subjects))
    return path


def _epochs(train: dict) -> int:
    """Epochs of a stored final-training recipe (stage_epochs when set)."""
    if train.get("stage_epochs"):
        return sum(train["stage_epochs"])
    return train["epochs_per_stage"] * len(train["aux_weights"])
