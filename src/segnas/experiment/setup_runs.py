"""Training a fixed list of designs under named setups on a search's data and executors: what
every experiment that retrains designs (ablation, aux study, correlation) shares.

Each (setup, design) is a `SetupJob`; the settings of a setup are `CandidateSettings`; results
go to a `ScoreTable` as they finish, so a killed experiment loses at most the candidates it was
training and a rerun trains only what is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segnas.experiment.ablation_scores import DONE, Record, ScoreTable, SetupJob, score_setups
from segnas.experiment.base_config import check_experiment_base
from segnas.genotype import Genotype
from segnas.run_dir import atomic_write_text
from segnas.search.settings import SearchSettings
from segnas.settings_io import to_yaml
from segnas.train.result import CandidateResult, ContinueRule
from segnas.train.settings import CandidateSettings

CONFIG = "config.yaml"
SCORES = "scores.json"


def open_scores(exp_dir: Path, base: SearchSettings) -> ScoreTable:
    """The experiment folder's score table. With scores already recorded, refuse `base` when it
    differs from the stored settings outside where and how fast candidates run (results made
    otherwise would not be comparable); with none yet, (re)write the settings, so a first try
    that failed early may be retried with a fix."""
    from segnas.search.run import EXECUTION_FIELDS

    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    table = ScoreTable(exp_dir / SCORES)
    if table.records and (exp_dir / CONFIG).is_file():
        hint = "Scores made with other settings would not be comparable: use another --exp-dir."
        check_experiment_base(exp_dir / CONFIG, base, EXECUTION_FIELDS, hint)
    else:
        atomic_write_text(exp_dir / CONFIG, to_yaml(base))
    return table


def failure_lines(failures: Sequence[str]) -> list[str]:
    """The "Failed candidates" section of an experiment.md (nothing when none failed)."""
    return ["## Failed candidates", "", *(f"- {f}" for f in failures), ""] if failures else []


def failures_of(records: Mapping[str, Sequence[Record | None]], names: Sequence[str]) -> list[str]:
    """One line per failed candidate: setup, design name (`names`, in the records' order), why."""
    return [
        f"{setup}, {name}: {record['failure']}"
        for setup, rows in records.items()
        for name, record in zip(names, rows)
        if record is not None and record["status"] != DONE
    ]


class SetupEvaluator:
    """Trains a `SetupJob` with its setup's settings on the shared data (the search's evaluator
    underneath) and training seed `seed`; one picklable object for every setup, so the data is
    sent to workers once."""

    def __init__(self, settings: Mapping[str, CandidateSettings], data: Any, seed: int) -> None:
        self.settings, self.data, self.seed = dict(settings), data, seed

    def _search(self, setup: str) -> Any:
        from segnas.search.run import SearchEvaluator

        return SearchEvaluator(self.settings[setup], self.data, self.seed)

    def __call__(self, job: SetupJob, rule: ContinueRule | None) -> CandidateResult:
        return self._search(job.setup)(job.design, rule)

    def estimate_cost(self, job: SetupJob) -> int:
        """Multiply-adds, so process workers start the longest candidates first."""
        return self._search(job.setup).estimate_cost(job.design)

    def to(self, device: Any) -> SetupEvaluator:
        return SetupEvaluator(self.settings, self.data.to(device), self.seed)


def _progress(label: str, console: Console) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def record_line(setup: str, index: int, count: int, record: Record, metric: str = "") -> str:
    """One line per candidate: its setup, design and rewards (or why it failed); with `metric`
    (a key of the stage-2 metrics) that figure too."""
    head = f"{setup:<18} design {index + 1}/{count}"
    if record["status"] != DONE:
        return f"{head}: [red]failed[/] {str(record['failure'])[:100]} ({record['seconds']:.1f} s)"
    extra = ""
    if metric and (record.get("metrics") or {}).get(metric) is not None:
        extra = f", {metric} {record['metrics'][metric]:.4f}"
    return (
        f"{head}: stage-1 {record['stage1_reward']:.4f}, stage-2 {record['stage2_reward']:.4f}"
        f"{extra} ({record['seconds']:.1f} s)"
    )


def train_missing(
    exp_dir: Path,
    base: SearchSettings,
    table: ScoreTable,
    designs: Sequence[Genotype],
    settings: Mapping[str, CandidateSettings],
    *,
    seed: int,
    device: str,
    console: Console,
    label: str,
    metric: str = "",
) -> None:
    """Prepare `base`'s data once (split from `base.seed`; the teacher only when a setup
    distils), then train every (setup, design) not in `table` with training seed `seed` on the
    executor `base` names (this process, worker processes, or Ray). Nothing missing: nothing
    is prepared (the report is only rewritten)."""
    from segnas.devices import resolve_device
    from segnas.search.run import make_executor, prepare
    from segnas.search.workers import plan_workers

    setups = list(settings)
    if not table.missing(setups, designs):
        console.print(f"{exp_dir}: every candidate recorded; report rewritten")
        return
    torch_device = resolve_device(device)
    if not any(s.distill for s in settings.values()):  # no teacher to train or load
        base = dataclasses.replace(base, teacher="none")
    data = prepare(base, exp_dir, torch_device, console)
    evaluator = SetupEvaluator(settings, data, seed)
    plan = plan_workers(base.workers, base.threads_per_worker, device_type=torch_device.type)
    executor = make_executor(base, plan)
    where = "ray tasks" if base.executor == "ray" else str(plan)
    missing = table.missing(setups, designs)
    console.print(f"candidates: {where}; {missing} to train")
    position = {str(d): i for i, d in enumerate(designs)}
    progress = _progress(label, console)
    try:
        with progress:
            total = len(setups) * len(designs)
            bar = progress.add_task("", total=total, completed=total - missing)

            def on_record(setup: str, design: Genotype, record: Record) -> None:
                line = record_line(setup, position[str(design)], len(designs), record, metric)
                progress.console.print(line)
                progress.advance(bar)

            score_setups(table, designs, setups, evaluator, executor, on_record)
    finally:
        executor.shutdown()
