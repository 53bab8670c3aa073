"""`segnas auto`: from a dataset to a trained, measured, exported model compared with the
hand-designed baselines, in one resumable command."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from rich.console import Console

from segnas.auto.settings import AutoSettings
from segnas.cli.options import (
    LATENCY_SHORTCUTS,
    TASK_SHORTCUTS,
    add_data,
    add_depth_options,
    add_device,
    add_latency_options,
    add_seed,
    add_settings,
    add_task,
    resolve_settings,
)
from segnas.cli.search import SHORTCUTS as SEARCH_SHORTCUTS
from segnas.devices import resolve_device
from segnas.final.recipe import depth_recipe
from segnas.settings_io import load_yaml

SEARCH_OPTIONS = ("data", "classes", "skip_bad_samples", "budget", "strategy", "seed")
SHORTCUTS = {
    "top": "top",
    **{
        dest: f"search.{path}"
        for dest, path in SEARCH_SHORTCUTS.items()
        if dest in SEARCH_OPTIONS or dest in LATENCY_SHORTCUTS or dest in TASK_SHORTCUTS
    },
}
"""Options that set an `AutoSettings` field (after --preset and --config, before --set)."""


def parse_baselines(text: str) -> list[str]:
    """`smp:unet,smp:fpn` -> a list; `none` -> []."""
    return [] if text.strip().lower() == "none" else [b.strip() for b in text.split(",") if b]


def cmd_auto(args: argparse.Namespace) -> int:
    from segnas.auto.pipeline import run_auto
    from segnas.final.latency import DeployedLatency

    if args.resume and args.run_dir:
        raise ValueError("--resume DIR names the run; leave out --run-dir")
    if args.resume:
        run_dir = Path(args.resume)
        stored = run_dir / "auto.yaml"
        base = load_yaml(AutoSettings, stored) if stored.is_file() else None
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir, base = Path(args.run_dir or Path("runs") / f"auto-{stamp}"), None
        if args.task == "depth":  # final training by the paper's depth recipe
            base = AutoSettings(train=depth_recipe())
    shortcuts = dict(SHORTCUTS)
    args.train_seed = args.seed  # one seed for the search and every training
    shortcuts["train_seed"] = "train.seed"
    if args.baselines is not None:
        args.baseline_list = parse_baselines(args.baselines)
        shortcuts["baseline_list"] = "baselines"
    settings = resolve_settings(AutoSettings, args, shortcuts, base=base)
    console = Console()
    console.print(f"run directory: {run_dir}")
    search = settings.search
    path = run_auto(
        settings,
        run_dir,
        device=resolve_device(args.device),
        resume=bool(args.resume),
        console=console,
        latency_meter=lambda classes: DeployedLatency(search.latency, classes, search.encoder),
    )
    console.print(path.read_text(encoding="utf-8"), markup=False)
    console.print(f"written: {path}")
    return 0


def add_auto_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "auto",
        help="check, search, train the best design and the baselines, compare, export",
    )
    add_data(p, default=None)
    add_task(p, default=None)
    add_depth_options(p)
    p.add_argument("--budget", type=int, default=None, help="candidates of the search")
    p.add_argument(
        "--strategy", choices=("ppo", "random", "evolution"), default=None, help="search strategy"
    )
    p.add_argument("--top", type=int, default=None, help="found designs trained in full (1)")
    p.add_argument(
        "--baselines",
        default=None,
        help="comma-separated baselines trained alongside (default "
        "smp:unet,smp:fpn,smp:deeplabv3plus; `none`: no baselines)",
    )
    add_latency_options(p)
    add_seed(p, "the search and every training (default 0)")
    p.add_argument("--run-dir", default=None, help="where results go (default runs/auto-TIME)")
    p.add_argument(
        "--resume", default=None, metavar="DIR", help="go on with a killed or stopped auto run"
    )
    add_settings(p, AutoSettings, example="train.epochs_per_stage=1", presets=False)
    add_device(p)
    p.set_defaults(func=cmd_auto)
