"""`segnas search`: the main job, new or resumed."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from rich.console import Console

from segnas.cli.options import (
    LATENCY_SHORTCUTS,
    TASK_SHORTCUTS,
    TRAINABLE_TASKS,
    add_data,
    add_depth_options,
    add_device,
    add_latency_options,
    add_seed,
    add_settings,
    add_task,
    resolve_settings,
)
from segnas.search.loop import TooManyFailures
from segnas.search.settings import SearchSettings
from segnas.settings_io import load_yaml

SHORTCUTS = {
    "data": "data",
    "classes": "classes",
    "skip_bad_samples": "skip_bad_samples",
    "budget": "budget",
    "strategy": "strategy",
    "executor": "executor",
    "seed": "seed",
    "ray_address": "ray_address",
    "workers": "workers",
    "threads_per_worker": "threads_per_worker",
    "generation": "generation",
    "reuse": "reuse",
    **LATENCY_SHORTCUTS,
    **TASK_SHORTCUTS,
}
"""Options that set a `SearchSettings` field (after --preset and --config, before --set)."""


def settings_for(args: argparse.Namespace) -> tuple[SearchSettings, Path]:
    """The settings and run directory; a resumed run's stored settings are the base layer."""
    if args.resume:
        run_dir = Path(args.resume)
        stored = load_yaml(SearchSettings, run_dir / "config.yaml")
        return resolve_settings(SearchSettings, args, SHORTCUTS, base=stored), run_dir
    settings = resolve_settings(SearchSettings, args, SHORTCUTS)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return settings, Path(args.run_dir or Path("runs") / f"search-{stamp}")


def cmd_search(args: argparse.Namespace) -> int:
    from segnas.final.latency import DeployedLatency
    from segnas.report.run_report import render_summary, write_report
    from segnas.search.run import run_search

    if args.resume and args.run_dir:
        raise ValueError("--resume RUN_DIR names the run; leave out --run-dir")
    if args.override and not args.resume:
        raise ValueError("--override only applies with --resume RUN_DIR")
    settings, run_dir = settings_for(args)
    console = Console()
    console.print(f"run directory: {run_dir}")
    try:
        run_search(
            settings,
            run_dir,
            device=args.device,
            resume=bool(args.resume),
            override=args.override,
            console=console,
            latency_meter=lambda classes: DeployedLatency(
                settings.latency, classes, settings.encoder
            ),
        )
    except TooManyFailures as error:
        console.print(f"[bold red]segnas search: stopped[/]: {error}", markup=True)
        return 1
    report = write_report(run_dir)
    render_summary(run_dir, console)
    console.print(f"report: {report}")
    return 0


def add_search_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="architecture search (the main job)")
    add_data(p, default=None)
    add_task(p, default=None, choices=TRAINABLE_TASKS)
    add_depth_options(p)
    p.add_argument("--budget", type=int, default=None, help="candidates to evaluate (default 24)")
    p.add_argument(
        "--strategy",
        choices=("ppo", "random", "evolution"),
        default=None,
        help="how designs are proposed (default: evolution)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default=None,
        help="candidates in this process or as Ray tasks (default: local)",
    )
    p.add_argument(
        "--ray-address", default=None, help="an existing Ray cluster (default: start one)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="candidates at once on this machine (default: one per core on the CPU, 1 on a GPU)",
    )
    p.add_argument(
        "--threads-per-worker",
        type=int,
        default=None,
        help="intra-op threads per candidate (default: 1 with automatic workers, else the "
        "cores shared among the workers; with --executor ray, the CPUs of each task)",
    )
    p.add_argument(
        "--generation",
        type=int,
        default=None,
        help="candidates proposed before their rewards are fed back (default: the number of "
        "workers, recorded with the run; the results depend on it, not on --workers)",
    )
    p.add_argument(
        "--no-reuse",
        dest="reuse",
        action="store_const",
        const=False,
        default=None,
        help="train every proposal, even a design the run already scored",
    )
    add_latency_options(p)
    add_seed(p, "the split, the views, the proposals and every candidate (default 0)")
    p.add_argument("--run-dir", default=None, help="where results go (default runs/search-TIME)")
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue a killed search with its stored settings (options given here are "
        "layered on top and must agree with them, unless --override)",
    )
    p.add_argument(
        "--override",
        action="store_true",
        help="with --resume: accept settings that differ from the run's, and record them",
    )
    add_settings(p, SearchSettings, example="evaluation.stage1.epochs=3", presets=True)
    add_device(p)
    p.set_defaults(func=cmd_search)
