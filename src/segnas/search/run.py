"""`segnas search`: set up data, teacher and controller, run the loop with progress, report."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segnas.data import check_dataset, open_dataset, require_clean
from segnas.data.split import meta_split, save_split
from segnas.devices import resolve_device
from segnas.encoders import build_encoder, encoder_identity
from segnas.genotype import DEFAULT_SPACE, Genotype
from segnas.search.early_stop import ProgressiveTermination
from segnas.search.loop import LocalExecutor, SearchLoop, check_identity, summary
from segnas.search.rescore import fresh_seeds, rescore_run, rescored_best
from segnas.search.settings import SearchSettings
from segnas.search.strategies import make_strategy
from segnas.settings_io import dump_yaml, load_yaml
from segnas.train.candidate import CandidateResult, ContinueRule, evaluate_candidate
from segnas.train.search_data import SearchData, prepare_search_data
from segnas.train.settings import CandidateSettings
from segnas.train.teacher import resolve_teacher


class SearchEvaluator:
    """The real inner loop, picklable so Ray workers can run it."""

    def __init__(self, settings: CandidateSettings, data: SearchData) -> None:
        self.settings, self.data = settings, data

    def __call__(self, genotype: Genotype, rule: ContinueRule) -> CandidateResult:
        return evaluate_candidate(genotype, self.settings, self.data, should_continue=rule)

    def to(self, device) -> SearchEvaluator:
        return SearchEvaluator(self.settings, self.data.to(device))

    def score(self, genotype: Genotype, seed: int) -> float:
        """Both stages with evaluation seed `seed`, no early stop; 0.0 when it fails."""
        settings = dataclasses.replace(self.settings, seed=seed)
        result = evaluate_candidate(genotype, settings, self.data)
        return 0.0 if result.status == "failed" else float(result.reward)


def prepare(config: SearchSettings, run_dir: Path, device, console: Console) -> SearchData:
    """Dataset (checked), split (saved with the run), teacher (cached) and feature caches."""
    source = open_dataset(config.data, num_classes=config.classes)
    if source.name != "builtin":
        report = check_dataset(source)
        source = require_clean(source, report, config.skip_bad_samples)
    train_ids, val_ids = meta_split(list(source.ids), config.val_fraction, config.seed)
    save_split(run_dir / "split.json", train_ids[: config.train_count], val_ids[: config.val_count])
    teacher, teacher_id = resolve_teacher(
        config.teacher,
        config.data,
        config.classes,
        source,
        device,
        config.teacher_settings,
        say=console.print,
    )
    weights = None if config.encoder_weights == "none" else config.encoder_weights
    start = time.perf_counter()
    data = prepare_search_data(
        source,
        config.evaluation,
        build_encoder(config.encoder, weights),
        encoder_identity(config.encoder, config.encoder_weights),
        teacher=teacher,
        teacher_id=teacher_id,
        val_fraction=config.val_fraction,
        train_count=config.train_count,
        val_count=config.val_count,
        seed=config.seed,
        device=device,
    )
    console.print(
        f"data: {source.name}, {source.num_classes} classes, "
        f"{len(data.train_masks)} meta-train / {len(data.val_masks)} meta-val views "
        f"({time.perf_counter() - start:.1f} s, cache hits {sum(data.cache_hits.values())}"
        f"/{len(data.cache_hits)})"
    )
    return data


def make_executor(config: SearchSettings):
    if config.executor == "ray":
        from segnas.search.ray_executor import RayExecutor

        return RayExecutor(config.ray_address)
    return LocalExecutor()


def run_search(
    config: SearchSettings,
    run_dir: Path,
    *,
    device: str = "auto",
    resume: bool = False,
    console: Console | None = None,
    evaluator=None,
) -> dict[str, Any]:
    """Run (or resume) a search in `run_dir`; returns `summary()` of the store."""
    console = console or Console()
    run_dir = Path(run_dir)
    config_file = run_dir / "config.yaml"
    if resume:
        if not config_file.is_file():
            raise FileNotFoundError(f"--resume {run_dir}: no config.yaml, not a search run")
        stored = load_yaml(SearchSettings, config_file)
        if asdict(stored) != asdict(config):
            config = stored  # a resumed run keeps its own settings
    elif (run_dir / "search.sqlite").exists():
        raise FileExistsError(f"{run_dir} holds a search already; use --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_yaml(config, config_file)
    torch_device = resolve_device(device)
    if evaluator is None:
        data = prepare(config, run_dir, torch_device, console)
        evaluator = SearchEvaluator(config.evaluation, data)
        identity = {"space": asdict(DEFAULT_SPACE), "data": data.identity}
    else:
        identity = {"space": asdict(DEFAULT_SPACE), "data": config.data}
    strategy = make_strategy(
        config.strategy, DEFAULT_SPACE, config.seed, config.ppo, evolution=config.evolution
    )
    termination = ProgressiveTermination(config.termination, config.seed, config.budget)
    progress = Progress(
        TextColumn("[bold]search"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    )
    best = {"reward": -1.0, "id": None}

    def on_result(index: int, result: CandidateResult, decision: dict | None) -> None:
        if result.status != "failed" and result.reward > best["reward"]:
            best.update(reward=result.reward, id=index)
        what = result.failure if result.status == "failed" else f"reward {result.reward:.4f}"
        progress.update(
            task,
            advance=1,
            description=(
                f"#{index} {result.status}: {what[:60]} | best #{best['id']} {best['reward']:.4f}"
            ),
        )

    loop = SearchLoop(
        run_dir,
        strategy,
        termination,
        evaluator,
        budget=config.budget,
        generation=config.generation,
        executor=make_executor(config),
        on_result=on_result,
        max_consecutive_failures=config.max_consecutive_failures,
    )
    try:
        check_identity(loop.store, identity)
        with progress:
            task = progress.add_task("", total=config.budget, completed=loop.next_index)
            rows = loop.run()
    finally:
        loop.close()
    out = summary(rows)
    if config.rescore_top > 0 and isinstance(evaluator, SearchEvaluator):
        rescore = rescore_run(
            run_dir,
            rows,
            evaluator.score,
            top=config.rescore_top,
            seeds=fresh_seeds(config.seed, config.rescore_seeds),
            say=console.print,
        )
        out["rescored_best"] = rescored_best(rescore)
    return out
