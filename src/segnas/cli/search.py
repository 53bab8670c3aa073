"""`segnas search`: the main job."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import datetime
from pathlib import Path

from rich.console import Console

from segnas.search.loop import ResumeError, TooManyFailures
from segnas.search.settings import SearchSettings
from segnas.settings_io import add_config_arguments, load_yaml, resolve_config

SHORTCUTS = ("data", "classes", "budget", "strategy", "executor", "seed", "ray_address")
"""Command-line options that set a `SearchSettings` field directly."""


def _config_from(args: argparse.Namespace) -> SearchSettings:
    config = resolve_config(SearchSettings, args)
    given = {k: getattr(args, k) for k in SHORTCUTS if getattr(args, k) is not None}
    return dataclasses.replace(config, **given)


def cmd_search(args: argparse.Namespace) -> int:
    from segnas.search.run import run_search

    console = Console()
    if args.resume:
        run_dir = Path(args.resume)
        stored = load_yaml(SearchSettings, run_dir / "config.yaml")
        asked = {k: getattr(args, k) for k in SHORTCUTS if getattr(args, k) is not None}
        differ = [
            f"{k}: run has {getattr(stored, k)!r}, asked {v!r}"
            for k, v in asked.items()
            if getattr(stored, k) != v
        ]
        if differ:
            raise ResumeError("cannot resume with other settings: " + "; ".join(differ))
        config = stored
    else:
        config = _config_from(args)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path(args.run_dir or Path("runs") / f"search-{stamp}")
    console.print(f"run directory: {run_dir}")
    try:
        run_search(config, run_dir, device=args.device, resume=bool(args.resume), console=console)
    except TooManyFailures as error:
        console.print(f"[bold red]segnas search: stopped[/]: {error}", markup=True)
        return 1
    from segnas.report.run_report import render_summary, write_report

    report = write_report(run_dir)
    render_summary(run_dir, console)
    console.print(f"report: {report}")
    return 0


def add_search_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="architecture search (the main job)")
    p.add_argument("--data", default=None, help="dataset spec (default: builtin)")
    p.add_argument("--classes", type=int, default=None)
    p.add_argument("--budget", type=int, default=None, help="candidates to evaluate")
    p.add_argument("--strategy", choices=("ppo", "random", "evolution"), default=None)
    p.add_argument("--executor", choices=("local", "ray"), default=None)
    p.add_argument("--ray-address", dest="ray_address", default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--run-dir", default=None, help="where results go (default runs/search-TIME)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a killed search")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    add_config_arguments(p, SearchSettings, presets=True)
    p.set_defaults(func=cmd_search)
