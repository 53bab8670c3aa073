"""`segnas search`: set up data, teacher and controller, run the loop with progress, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segnas.data import check_dataset, open_dataset, require_clean
from segnas.data.split import save_split
from segnas.devices import resolve_device
from segnas.encoders import build_encoder, encoder_identity
from segnas.genotype import DEFAULT_SPACE, Genotype
from segnas.run_dir import (
    check_same,
    differences,
    missing_fields,
    record_overrides,
    removed_on_failure,
)
from segnas.search.early_stop import ProgressiveTermination
from segnas.search.latency import LatencyMeter
from segnas.search.loop import Executor, LocalExecutor, SearchLoop, check_identity
from segnas.search.rescore import fresh_seeds, rescore_run, rescored_best
from segnas.search.settings import SearchSettings
from segnas.search.store import summary
from segnas.search.strategies import make_strategy
from segnas.search.workers import ProcessExecutor, WorkerPlan, plan_workers
from segnas.settings_io import dump_yaml, load_yaml, to_dict
from segnas.space.builder import SegmentationNet, build_decoder
from segnas.space.cost import measure_cost
from segnas.tasks.base import task_for_source, task_options
from segnas.train.candidate import CandidateResult, ContinueRule, evaluate_candidate
from segnas.train.search_data import (
    SearchData,
    SearchDataInputs,
    prepare_search_data,
    search_split,
)
from segnas.train.settings import CandidateSettings
from segnas.train.teacher import resolve_teacher


class SearchEvaluator:
    """The real inner loop, picklable so Ray workers can run it; `seed` is the run's seed."""

    def __init__(self, settings: CandidateSettings, data: SearchData, seed: int) -> None:
        self.settings, self.data, self.seed = settings, data, seed

    def __call__(self, genotype: Genotype, rule: ContinueRule) -> CandidateResult:
        return evaluate_candidate(
            genotype, self.settings, self.data, seed=self.seed, should_continue=rule
        )

    def estimate_cost(self, genotype: Genotype) -> int:
        """Multiply-adds of the candidate at the search's crop size: orders a generation's
        candidates longest first (the time of a candidate follows its multiply-adds)."""
        decoder = build_decoder(
            genotype, self.data.encoder, self.data.num_classes, self.settings.decoder
        )
        net = SegmentationNet(self.data.encoder, decoder)
        return measure_cost(net, (self.settings.crop_size,) * 2).madds

    def to(self, device) -> SearchEvaluator:
        return SearchEvaluator(self.settings, self.data.to(device), self.seed)

    def score(self, genotype: Genotype, seed: int) -> float:
        """Both stages with seed `seed` instead of the run's, no early stop; 0.0 when it fails."""
        result = evaluate_candidate(genotype, self.settings, self.data, seed=seed)
        return 0.0 if result.status == "failed" else float(result.reward)


def prepare(config: SearchSettings, run_dir: Path | None, device, console: Console) -> SearchData:
    """Dataset (checked), split (saved with the run, if any), teacher (cached), feature caches.

    `segnas evaluate` calls it without a run directory, so one candidate sees the same data.
    """
    source = open_dataset(config.data, num_classes=config.classes, task=config.task)
    if source.name != "builtin":
        report = check_dataset(source)
        source = require_clean(source, report, config.skip_bad_samples)
    train_ids, val_ids = search_split(
        source.ids, config.val_fraction, config.seed, config.train_count, config.val_count
    )
    if run_dir is not None:
        save_split(run_dir / "split.json", train_ids, val_ids)
    task = task_for_source(config.task, source, task_options(config))
    teacher, teacher_id = resolve_teacher(
        config.teacher,
        config.data,
        config.classes,
        source,
        device,
        config.teacher_settings,
        say=console.print,
        task=task,
    )
    weights = None if config.encoder_weights == "none" else config.encoder_weights
    start = time.perf_counter()
    inputs = SearchDataInputs(
        source,
        train_ids,
        val_ids,
        build_encoder(config.encoder, weights),
        encoder_identity(config.encoder, config.encoder_weights),
        teacher=teacher,
        teacher_id=teacher_id,
        crop_size=config.evaluation.crop_size,
        batch_size=config.evaluation.val_batch_size,
        seed=config.seed,
        task=task,
    )
    data = prepare_search_data(inputs, device)
    what = f"{source.num_classes} classes" if task.name == "segmentation" else task.name
    console.print(
        f"data: {source.name}, {what}, "
        f"{len(data.train_masks)} meta-train / {len(data.val_masks)} meta-val views "
        f"({time.perf_counter() - start:.1f} s, cache hits {sum(data.cache_hits.values())}"
        f"/{len(data.cache_hits)})"
    )
    return data


EXECUTION_FIELDS = ("executor", "workers", "threads_per_worker", "ray_address", "time_budget")
"""Settings that change where, how fast or how long candidates run, never what each gives: a
resume may change them freely (a larger time budget lets a stopped run go on)."""


def make_executor(config: SearchSettings, plan: WorkerPlan) -> Executor:
    """Ray tasks, worker processes on this machine, or this process (one worker)."""
    if config.executor == "ray":
        from segnas.search.ray_executor import RayExecutor

        # The plan is this machine's; a task's CPUs are only what was asked for (default 1).
        return RayExecutor(config.ray_address, cpus_per_task=config.threads_per_worker or 1)
    if plan.workers > 1:
        return ProcessExecutor(plan)
    return LocalExecutor(threads=plan.threads)


def with_generation(settings: SearchSettings, plan: WorkerPlan) -> SearchSettings:
    """`generation` None becomes 1 for one worker, else twice the workers: a generation waits
    for its slowest candidate, and with two candidates per worker (longest first) the workers
    are busy 94% of the time instead of 78% with one (README, "Candidates per hour")."""
    if settings.generation is not None:
        return settings
    return replace(settings, generation=1 if plan.workers == 1 else 2 * plan.workers)


OVERRIDE_HINT = (
    "Resume without these changes, or give --override to accept them "
    "(they are recorded in overrides.jsonl and shown by the report)."
)


@dataclass(frozen=True)
class ResumedSettings:
    """What a resume found: the settings to run with, and how they differ from the stored ones."""

    settings: SearchSettings
    changed: list[str]
    """Accepted differences, "FIELD: run has X, now Y" (only with override)."""
    filled: list[str]
    """Fields the stored config.yaml lacked (an older segnas wrote it), filled from defaults."""


def check_resume(
    settings: SearchSettings, run_dir: Path, *, override: bool = False
) -> ResumedSettings:
    """Compare `settings` with the run's config.yaml: differences are refused (one line per
    field) unless `override`. Reads only; nothing in the run directory changes."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"--resume {run_dir}: no config.yaml, not a search run")
    stored = load_yaml(SearchSettings, config_file)
    if override:
        changed = differences(to_dict(stored), to_dict(settings), ignore=EXECUTION_FIELDS)
    else:
        check_same(
            str(config_file),
            to_dict(stored),
            to_dict(settings),
            ignore=EXECUTION_FIELDS,
            hint=OVERRIDE_HINT,
        )
        changed = []
    return ResumedSettings(settings, changed, missing_fields(config_file, stored))


def _record_resume(run_dir: Path, resumed: ResumedSettings, console: Console) -> None:
    """Say and record what a resume changed; config.yaml then holds every field again."""
    if resumed.filled:
        console.print(
            f"{run_dir / 'config.yaml'} was written by an older segnas; filled from the defaults: "
            + ", ".join(resumed.filled)
        )
    if resumed.changed:
        console.print("resuming with changed settings (--override):")
        for line in resumed.changed:
            console.print(f"  {line}")
    if resumed.changed or resumed.filled:
        record_overrides(run_dir, resumed.changed, resumed.filled)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]search"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    )


class _ProgressLine:
    """`SearchLoop.on_result`: advances the bar and shows the last result and the best so far."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.task = progress, None
        self.best_reward, self.best_id = -1.0, None

    def __call__(self, index: int, result: CandidateResult, decision: dict | None) -> None:
        scored = result.scored
        if scored and result.reward > self.best_reward:
            self.best_reward, self.best_id = result.reward, index
        what = f"reward {result.reward:.4f}" if scored else (result.failure or result.status)
        if result.latency_ms is not None and scored:
            what += f", {result.latency_ms:.0f} ms"
        if result.reused_from is not None:
            what = f"as #{result.reused_from} (same design, reused): {what}"
        best = f"best #{self.best_id} {self.best_reward:.4f}"
        self.progress.update(
            self.task, advance=1, description=f"#{index} {result.status}: {what[:60]} | {best}"
        )


def _evaluator_and_identity(
    settings: SearchSettings, run_dir: Path, device: str, console: Console, evaluator
) -> tuple[Any, dict[str, Any]]:
    """The candidate evaluator (real data prepared unless one is given) and the run's identity:
    what must not change between a run and its resume."""
    space = asdict(DEFAULT_SPACE)
    if evaluator is not None:
        return evaluator, {"space": space, "data": settings.data}
    data = prepare(settings, run_dir, resolve_device(device), console)
    evaluator = SearchEvaluator(settings.evaluation, data, settings.seed)
    return evaluator, {"space": space, "data": data.identity}


def _with_task_resolved(settings: SearchSettings, evaluator) -> SearchSettings:
    """`settings` with what the data decided filled in (the depth scale), for config.yaml."""
    data = getattr(evaluator, "data", None)
    if settings.task != "depth" or data is None or settings.depth.scale is not None:
        return settings
    return replace(settings, depth=replace(settings.depth, scale=data.task.settings.scale))


LatencyMeterFactory = Callable[[int], LatencyMeter]
"""Makes the run's latency meter for its number of classes (`segnas.final.latency`)."""


def _num_classes(settings: SearchSettings, evaluator) -> int:
    if isinstance(evaluator, SearchEvaluator):
        return evaluator.data.num_classes
    if settings.classes is None:
        raise ValueError("classes: a latency-measuring search with a custom evaluator needs it")
    return settings.classes


def _make_loop(
    settings: SearchSettings,
    run_dir: Path,
    evaluator,
    on_result,
    plan: WorkerPlan,
    latency: LatencyMeter | None = None,
    started: float | None = None,
) -> SearchLoop:
    strategy = make_strategy(
        settings.strategy, DEFAULT_SPACE, settings.seed, settings.ppo, evolution=settings.evolution
    )
    return SearchLoop(
        run_dir,
        strategy,
        ProgressiveTermination(settings.termination, settings.seed, settings.budget),
        evaluator,
        budget=settings.budget,
        generation=settings.generation,
        executor=make_executor(settings, plan),
        on_result=on_result,
        max_consecutive_failures=settings.max_consecutive_failures,
        reuse=settings.reuse,
        objective=settings.objective,
        latency=latency,
        time_budget=settings.time_budget,
        reserve_candidates=settings.rescore_top * settings.rescore_seeds,
        started=started,
    )


def _rescore(settings: SearchSettings, run_dir: Path, rows, evaluator, console) -> dict:
    """Re-score the leading designs with fresh seeds (real evaluator only); their best."""
    if settings.rescore_top <= 0 or not isinstance(evaluator, SearchEvaluator):
        return {}
    rescore = rescore_run(
        run_dir,
        rows,
        evaluator.score,
        top=settings.rescore_top,
        seeds=fresh_seeds(settings.seed, settings.rescore_seeds),
        say=console.print,
        objective=settings.objective,
    )
    return {"rescored_best": rescored_best(rescore)}


def run_search(
    settings: SearchSettings,
    run_dir: Path,
    *,
    device: str = "auto",
    resume: bool = False,
    override: bool = False,
    console: Console | None = None,
    evaluator=None,
    latency_meter: LatencyMeterFactory | None = None,
) -> dict[str, Any]:
    """Run (or resume) a search in `run_dir`; returns `summary()` of the store, and
    `stopped` (why the loop ended before the budget, or None).

    A resume runs with `settings`, which must equal the run's config.yaml unless `override`
    (then the differences are recorded). Until the first candidate starts, a failure (data
    refused, identity changed) removes whatever this call added to `run_dir`. A run that
    measures latency needs `latency_meter` (`segnas.final.latency.DeployedLatency` bound to the
    settings: `segnas search` passes it).
    """
    started = time.monotonic()
    console = console or Console()
    if settings.measures_latency and latency_meter is None:
        raise ValueError(
            f"objective {settings.objective.describe()}: this search measures latency and "
            "needs a latency_meter"
        )
    run_dir = Path(run_dir)
    plan = plan_workers(
        settings.workers, settings.threads_per_worker, device_type=resolve_device(device).type
    )
    settings = with_generation(settings, plan)
    resumed = check_resume(settings, run_dir, override=override) if resume else None
    if not resume and (run_dir / "search.sqlite").exists():
        raise FileExistsError(f"{run_dir} holds a search already; use --resume {run_dir}")
    with removed_on_failure(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        evaluator, identity = _evaluator_and_identity(settings, run_dir, device, console, evaluator)
        meter = None
        if settings.measures_latency:
            meter = latency_meter(_num_classes(settings, evaluator))  # type: ignore[misc]
        progress = _progress(console)
        on_result = _ProgressLine(progress)
        loop = _make_loop(settings, run_dir, evaluator, on_result, plan, meter, started)
        console.print(f"candidates: {plan}, {settings.generation} per generation")
        if settings.measures_latency:
            s = settings.latency
            console.print(
                f"objective: {settings.objective.describe()}; deployed latency on "
                f"{s.target} at {s.size}x{s.size}, C={s.channels}, R={s.repeats}"
            )
        try:
            check_identity(loop.store, identity)
        except BaseException:
            loop.close()
            loop.executor.shutdown()
            raise
        dump_yaml(_with_task_resolved(settings, evaluator), run_dir / "config.yaml")
        if resumed is not None:
            _record_resume(run_dir, resumed, console)
    try:
        with progress:
            on_result.task = progress.add_task("", total=settings.budget, completed=loop.next_index)
            rows = loop.run()
    finally:
        loop.close()
        loop.executor.shutdown()
    if loop.stop_reason:
        console.print(
            f"stopped: {loop.stop_reason}; `segnas search --resume {run_dir}` with a "
            "larger --time-budget goes on"
        )
    rescored = _rescore(settings, run_dir, rows, evaluator, console)
    return {**summary(rows, settings.objective), **rescored, "stopped": loop.stop_reason}
