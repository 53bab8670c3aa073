"""``segnas data check`` and ``segnas data preview``; `segnas.cli` registers them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from segnas.cli.options import DATA_HELP, add_classes, add_task
from segnas.data.check import check_dataset
from segnas.data.source import DatasetError
from segnas.data.spec import TASKS, open_dataset
from segnas.data.viz import preview_grid

DATA_COMMAND_HELP = DATA_HELP + " | coco:ROOT | mpii:ROOT (pose)"
TASK_COMMAND_HELP = (
    "what the targets are: segmentation (class masks), depth (metres; datasets builtin, "
    "folder:PATH with images/ + depth/, nyu:FILE.mat[,SPLITS]) or pose (person keypoints; "
    "datasets builtin, coco:ROOT, mpii:ROOT)"
)


def add_data_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``data check`` and ``data preview``; each sets ``func(args) -> exit code``."""
    data = subparsers.add_parser("data", help="inspect datasets")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("dataset", metavar="DATASET", help=DATA_COMMAND_HELP)
        parser.add_argument("--split", default="train", help="split to read (default: train)")
        add_classes(parser)
        add_task(parser, choices=TASKS, help_text=TASK_COMMAND_HELP)
        parser.add_argument(
            "--cache-dir",
            type=Path,
            help="built-in data cache (default: $SEGNAS_CACHE/builtin or ~/.cache/segnas/builtin)",
        )

    check = commands.add_parser(
        "check", help="count samples and report every problem with its file; exit 1 on errors"
    )
    common(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--workers", type=int, default=2, help="DataLoader workers (default: 2)")
    check.set_defaults(func=run_check)

    preview = commands.add_parser(
        "preview", help="write a PNG grid of images with mask overlays (or colour-mapped depth)"
    )
    common(preview)
    preview.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.png")
    preview.add_argument("--count", type=int, default=16, help="samples to show (default: 16)")
    preview.add_argument("--seed", type=int, default=0, help="which samples (default: 0)")
    preview.set_defaults(func=run_preview)


def run_check(args: argparse.Namespace) -> int:
    """0 when the dataset is clean, 1 when it has problems."""
    report = check_dataset(
        args.dataset,
        split=args.split,
        num_classes=args.classes,
        cache_dir=args.cache_dir,
        num_workers=args.workers,
        task=args.task,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        report.render(Console())
    return 0 if report.ok else 1


def run_preview(args: argparse.Namespace) -> int:
    """0 when the grid was written, 2 when the dataset cannot be opened or is empty."""
    console = Console(stderr=True)
    try:
        source = open_dataset(
            args.dataset,
            split=args.split,
            num_classes=args.classes,
            cache_dir=args.cache_dir,
            task=args.task,
        )
    except DatasetError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    if len(source) == 0 or args.count < 1:
        console.print(
            f"[red]error:[/] nothing to preview ({len(source)} samples, --count {args.count})"
        )
        return 2
    path = preview_grid(source, args.count, args.output, seed=args.seed)
    console.print(f"wrote {path} ({min(args.count, len(source))} samples of {args.dataset})")
    return 0
