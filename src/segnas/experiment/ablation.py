"""`segnas experiment ablation`: what Polyak averaging, auxiliary cells and distillation each add
to the rewards of the same random designs (the paper's Fig. 3).

Every design is trained once under every setup with the experiment's one seed (common random
numbers: the same split, views, batch order and initialisation stream), and always through both
stages (no early termination), so each step between setups is a paired comparison. Scores go to
`scores.json` as each candidate finishes; a rerun in the same folder trains only what is missing
and refuses other base settings; the report is rewritten from the records at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segnas.experiment.ablation_report import write_report
from segnas.experiment.ablation_scores import DONE, Record, ScoreTable, SetupJob, score_setups
from segnas.experiment.ablation_setups import COMPONENTS, check_components, setup_settings
from segnas.experiment.base_config import check_experiment_base
from segnas.experiment.reward_noise import random_designs
from segnas.genotype import Genotype
from segnas.run_dir import atomic_write_text
from segnas.search.settings import SearchSettings
from segnas.settings_io import to_dict, to_yaml
from segnas.train.result import CandidateResult, ContinueRule
from segnas.train.settings import CandidateSettings

CONFIG = "config.yaml"
SCORES = "scores.json"


def check_base(path: Path, base: SearchSettings) -> None:
    """Refuse to add scores made with other settings: the setups would not be comparable.
    Where and how fast candidates run (executor, workers, threads) may change."""
    from segnas.search.run import EXECUTION_FIELDS

    hint = "Scores made with other settings would not be comparable: use another --exp-dir."
    check_experiment_base(path, base, EXECUTION_FIELDS, hint)


class AblationEvaluator:
    """Trains a `SetupJob` with its setup's settings on the shared data (the search's evaluator
    underneath); one picklable object for every setup, so the data is sent to workers once."""

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

    def to(self, device: Any) -> AblationEvaluator:
        return AblationEvaluator(self.settings, self.data.to(device), self.seed)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]ablation"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _line(setup: str, index: int, count: int, record: Record) -> str:
    """One line per candidate: its setup, design and rewards (or why it failed)."""
    head = f"{setup:<18} design {index + 1}/{count}"
    if record["status"] != DONE:
        return f"{head}: [red]failed[/] {str(record['failure'])[:100]} ({record['seconds']:.1f} s)"
    return (
        f"{head}: stage-1 {record['stage1_reward']:.4f}, stage-2 {record['stage2_reward']:.4f}"
        f" ({record['seconds']:.1f} s)"
    )


def _train_missing(
    exp_dir: Path,
    base: SearchSettings,
    table: ScoreTable,
    designs: Sequence[Genotype],
    setups: Sequence[str],
    device: str,
    console: Console,
) -> None:
    """Prepare the data once, then train every missing (setup, design) on the search's
    executor (this process, worker processes, or Ray, as `base` says)."""
    from segnas.devices import resolve_device
    from segnas.search.run import make_executor, prepare
    from segnas.search.workers import plan_workers

    torch_device = resolve_device(device)
    if not any("distill" in COMPONENTS[s] for s in setups):  # no teacher to train or load
        data = prepare(dataclasses.replace(base, teacher="none"), exp_dir, torch_device, console)
    else:
        data = prepare(base, exp_dir, torch_device, console)
    settings = {s: setup_settings(base.evaluation, s) for s in setups}
    evaluator = AblationEvaluator(settings, data, base.seed)
    plan = plan_workers(base.workers, base.threads_per_worker, device_type=torch_device.type)
    executor = make_executor(base, plan)
    where = "ray tasks" if base.executor == "ray" else str(plan)
    missing = table.missing(setups, designs)
    console.print(f"candidates: {where}; {missing} to train")
    position = {str(d): i for i, d in enumerate(designs)}
    progress = _progress(console)
    try:
        with progress:
            total = len(setups) * len(designs)
            bar = progress.add_task("", total=total, completed=total - missing)

            def on_record(setup: str, design: Genotype, record: Record) -> None:
                line = _line(setup, position[str(design)], len(designs), record)
                progress.console.print(line)
                progress.advance(bar)

            score_setups(table, designs, setups, evaluator, executor, on_record)
    finally:
        executor.shutdown()


def _about(base: SearchSettings, designs: int, setups: Sequence[str]) -> list[str]:
    """What was run, in words, for the top of experiment.md."""
    e = base.evaluation
    return [
        f"{designs} random designs (seed {base.seed}), each trained under every setup with the "
        "same run seed (common random numbers: a design sees the same split, views, batch "
        "order and initialisation seed under every setup), always through both stages (no "
        "early termination). "
        f"Data: `{base.data}`, task {base.task}, up to {base.train_count or 'all'} meta-train / "
        f"{base.val_count or 'all'} meta-val images; epochs: {e.stage1.epochs} in stage 1, "
        f"{e.stage2.epochs} in stage 2.",
        "",
        f"Setups: {', '.join(setups)}. Polyak: validation with averaged weights (decay "
        f"{e.stage1.polyak_decay} / {e.stage2.polyak_decay}); aux: auxiliary heads "
        f"`{e.decoder.aux_mode}`, weight {e.aux_weight} each; distill: MSE to the teacher's "
        f"logits (`{base.teacher}`), weight {e.stage1.distill_weight}, in stage 1 only (as in "
        "the paper).",
    ]


def run_ablation(
    exp_dir: Path,
    base: SearchSettings,
    *,
    designs: int,
    setups: Sequence[str],
    command: str,
    device: str = "auto",
    console: Console | None = None,
) -> Path:
    """Train what is missing, then write ablation.json, experiment.md and the figures; returns
    experiment.md. `base` are the full method's settings (`config.yaml`)."""
    console = console or Console()
    if designs < 2:
        raise ValueError(f"--designs: got {designs}, expected >= 2 (a paired test needs pairs)")
    check_components(base, list(setups))
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    table = ScoreTable(exp_dir / SCORES)
    if table.records and (exp_dir / CONFIG).is_file():
        check_base(exp_dir / CONFIG, base)
    else:  # nothing scored yet (a first try that failed early may be retried with a fix)
        atomic_write_text(exp_dir / CONFIG, to_yaml(base))
    chosen = random_designs(designs, base.seed)
    missing = table.missing(setups, chosen)
    if missing:
        _train_missing(exp_dir, base, table, chosen, setups, device, console)
    else:
        console.print(f"{exp_dir}: every candidate recorded; report rewritten")
    records = {s: [table.get(s, d) for d in chosen] for s in setups}
    failures = [
        f"{s}, design {i + 1} `{d}`: {r['failure']}"
        for s in setups
        for i, (d, r) in enumerate(zip(chosen, records[s]))
        if r is not None and r["status"] != DONE
    ]
    extra = {
        "seed": base.seed,
        "setups": list(setups),
        "designs": [str(d) for d in chosen],
        "settings": {s: to_dict(setup_settings(base.evaluation, s)) for s in setups},
    }
    report = write_report(
        exp_dir,
        records,
        command=command,
        about=_about(base, designs, setups),
        extra=extra,
        failures=failures,
    )
    console.print(f"report: {report}")
    return report
