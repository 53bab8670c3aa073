"""`segnas experiment strategies`: one ordinary search per (strategy, seed), then the report.

Each run is a normal search directory under `EXP_DIR/runs/STRATEGY-seedS`, so `segnas report`
reads it and a killed experiment resumes run by run: finished runs are skipped (their resume is
a no-op), a killed run resumes where it stopped. A seed fixes the split, the views, the
evaluation seed and the re-scoring seeds, so every strategy of one seed sees the same data and
the same training luck (a paired comparison); only the designs differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from segnas.experiment.base_config import check_experiment_base
from segnas.experiment.strategies_report import RunRecord, write_strategies_report
from segnas.run_dir import atomic_write_text
from segnas.search.rescore import load_rescore
from segnas.search.settings import SearchSettings
from segnas.search.store import RUNNING, read_candidates
from segnas.settings_io import to_yaml

BASE_CONFIG = "base-config.yaml"
PER_RUN = ("strategy", "seed", "budget")
"""Settings each run sets for itself (`run_config`): they may differ from the base's."""


def check_base(path: Path, base: SearchSettings) -> None:
    """Refuse to add runs with other settings to an experiment: they would not be comparable."""
    hint = "Runs with other settings would not be comparable: use another experiment folder."
    check_experiment_base(path, base, PER_RUN, hint)


def run_config(base: SearchSettings, strategy: str, seed: int, budget: int) -> SearchSettings:
    """The settings of one run: the experiment's, with its strategy, seed and budget (the run's
    one seed also seeds every candidate)."""
    return dataclasses.replace(base, strategy=strategy, seed=seed, budget=budget)


def run_dir_of(exp_dir: Path, strategy: str, seed: int) -> Path:
    return Path(exp_dir) / "runs" / f"{strategy}-seed{seed}"


def finished(run_dir: Path, budget: int, rescore_top: int) -> bool:
    """All candidates recorded and, when asked for, the re-scoring written."""
    store = run_dir / "search.sqlite"
    if not store.is_file():
        return False
    rows = read_candidates(store)
    if len(rows) < budget or any(r["status"] == RUNNING for r in rows):
        return False
    return rescore_top == 0 or load_rescore(run_dir) is not None


def load_records(
    exp_dir: Path, strategies: Sequence[str], seeds: Sequence[int], budget: int, rescore_top: int
) -> tuple[list[RunRecord], list[str]]:
    """Records of the finished runs, and the names of those not finished yet."""
    records, missing = [], []
    for seed in seeds:
        for strategy in strategies:
            run_dir = run_dir_of(exp_dir, strategy, seed)
            if not finished(run_dir, budget, rescore_top):
                missing.append(run_dir.name)
                continue
            rescore = load_rescore(run_dir) or {}
            rows = read_candidates(run_dir / "search.sqlite")
            records.append(RunRecord(strategy, seed, rows, rescore.get("designs", [])))
    return records, missing


def run_strategies_experiment(
    exp_dir: Path,
    base: SearchSettings,
    *,
    strategies: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    command: str,
    device: str = "auto",
    default: str | None = None,
    console: Console | None = None,
) -> Path:
    """Run every missing (strategy, seed) search, then write `experiment.md` and figures."""
    from segnas.search.run import run_search

    console = console or Console()
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    if (exp_dir / BASE_CONFIG).is_file():
        check_base(exp_dir / BASE_CONFIG, base)
    else:  # atomic: a second process started on this experiment never reads half a file
        atomic_write_text(exp_dir / BASE_CONFIG, to_yaml(base))
    for seed in seeds:
        for strategy in strategies:
            run_dir = run_dir_of(exp_dir, strategy, seed)
            if finished(run_dir, budget, base.rescore_top):
                console.print(f"{run_dir.name}: finished, skipped")
                continue
            console.print(f"[bold]{run_dir.name}[/]")
            resume = (run_dir / "search.sqlite").is_file()
            config = run_config(base, strategy, seed, budget)
            run_search(config, run_dir, device=device, resume=resume, console=console)
    records, missing = load_records(exp_dir, strategies, seeds, budget, base.rescore_top)
    notes = ""
    if missing:
        notes = "Runs not finished yet (left out above): " + ", ".join(missing) + "."
    reference = "random" if "random" in strategies else strategies[-1]
    report = write_strategies_report(
        exp_dir,
        records,
        budget=budget,
        command=command,
        reference=reference,
        default=default if default != reference else None,
        notes=notes,
    )
    console.print(f"report: {report}")
    return report
