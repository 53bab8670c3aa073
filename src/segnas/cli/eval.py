"""`segnas eval`: per-class IoU and summary figures of a model file on a dataset split; for a
depth model, the paper's Table 3 figures."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from segnas.cli.options import (
    TRAINABLE_TASKS,
    add_data,
    add_device,
    add_scales_flip,
    add_settings,
    add_task,
    model_task,
    open_checked,
    resolve_settings,
)
from segnas.devices import resolve_device
from segnas.final.depth_eval import depth_table, evaluate_depth
from segnas.final.eval import (
    EvalReport,
    EvalSettings,
    class_names_for,
    evaluate,
    load_checked,
)
from segnas.final.pose_eval import evaluate_pose, pose_input_size
from segnas.settings_io import dump_yaml
from segnas.space.model_file import read_meta
from segnas.tasks import task_from_meta
from segnas.weights import sha256_of

SHORTCUTS = {"scales": "scales", "flip": "flip", "batch_size": "batch_size", "workers": "workers"}
"""Options that set an `EvalSettings` field (after --config, before --set)."""


def _figure(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "-"


def report_tables(report: EvalReport, title: str) -> tuple[Table, Table]:
    """Per-class table (IoU, accuracy, labelled pixels) and the summary figures."""
    classes = Table(title=title)
    classes.add_column("id", justify="right")
    classes.add_column("class")
    classes.add_column("IoU", justify="right")
    classes.add_column("accuracy", justify="right")
    classes.add_column("pixels", justify="right")
    rows = zip(
        report.class_names,
        report.metrics.per_class_iou,
        report.per_class_accuracy,
        report.class_pixels,
    )
    for k, (name, iou, accuracy, pixels) in enumerate(rows):
        style = None if pixels else "dim"  # absent classes do not enter the means
        classes.add_row(str(k), name, _figure(iou), _figure(accuracy), f"{pixels:,}", style=style)
    m = report.metrics
    summary = Table(show_header=False, title="summary")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    for name, value in (
        ("mean IoU", m.mean_iou),
        ("frequency-weighted IoU", m.fw_iou),
        ("pixel accuracy", m.pixel_accuracy),
        ("mean class accuracy", m.mean_accuracy),
    ):
        summary.add_row(name, _figure(value))
    return classes, summary


def pose_table(metrics: dict, title: str) -> Table:
    """PCKh (where head sizes are known), MPII's table columns and COCO keypoint AP/AR."""
    rows = []
    if "pckh" in metrics:
        rows += [("PCKh", metrics["pckh"]), ("PCKh@0.1", metrics["pckh_0.1"])]
    rows += [(f"MPII {k}", v) for k, v in (metrics.get("mpii_table") or {}).items()]
    boxes = metrics.get("boxes")
    rows += [(f"COCO {k} ({boxes} boxes)", v) for k, v in (metrics.get("coco") or {}).items()]
    table = Table(title=title, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, _figure(math.nan if value is None else value))
    return table


def cmd_eval(args: argparse.Namespace) -> int:
    settings = resolve_settings(EvalSettings, args, SHORTCUTS)
    device = resolve_device(args.device)
    if args.output is not None and args.output.is_dir():
        raise ValueError(f"-o {args.output}: is a folder, expected a JSON file name")
    console = Console(stderr=args.json)
    header = read_meta(args.checkpoint)
    args.task = model_task(args, header, args.checkpoint)
    source = open_checked(args, console, split=args.split)
    data = f"--data {args.data} ({args.split})"
    net, meta = load_checked(args.checkpoint, device, source.num_classes, data)
    names, notes = class_names_for(meta, source.class_names)
    progress = _progress()
    with progress:
        bar = progress.add_task("images", total=len(source))
        on_batch = lambda n: progress.advance(bar, n)  # noqa: E731
        if meta.task == "pose":
            report = evaluate_pose(
                net,
                source,
                task_from_meta(meta),  # type: ignore[arg-type]
                pose_input_size(meta),
                flip=settings.flip,
                batch_size=settings.batch_size,
                device=device,
                on_batch=on_batch,
            )
        elif meta.task == "depth":
            task = task_from_meta(meta)
            report = evaluate_depth(
                net,
                source,
                task,
                settings,
                device,
                on_batch,  # type: ignore[arg-type]
            )
        else:
            report = evaluate(net, source, settings, device, names, on_batch=on_batch)
            report.notes.extend(notes)
    payload = {
        "checkpoint": str(args.checkpoint),
        "checkpoint_sha256": sha256_of(args.checkpoint),
        "genotype": meta.genotype,
        "task": meta.task,
        "data": args.data,
        "split": args.split,
        "dataset": source.describe(),
        "device": str(device),
        **report.to_dict(),
    }
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        dump_yaml(settings, args.output.with_suffix(".settings.yaml"))
    if args.json:
        print(json.dumps(payload))
        return 0
    title = f"{args.checkpoint.name} on {args.data} ({args.split}, {report.images} images)"
    if meta.task == "depth":
        console.print(depth_table({args.checkpoint.name: report.metrics}, title))
    elif meta.task == "pose":
        console.print(pose_table(report.metrics, title))
    else:
        for table in report_tables(report, title):  # type: ignore[arg-type]
            console.print(table)
    scales = ", ".join(f"{s:g}" for s in settings.scales)
    flip = ", flip" if settings.flip else ""
    console.print(f"scales {scales}{flip}; {report.seconds:.1f} s on {device}")
    for note in getattr(report, "notes", []):
        console.print(f"[yellow]note[/yellow]: {note}")
    if args.output is not None:
        console.print(f"metrics written to {args.output}")
    return 0


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def add_eval_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="score a model file on a dataset split at full resolution (per-class IoU)"
    )
    p.add_argument("checkpoint", type=Path, help="segnas model file")
    add_data(p)
    p.add_argument("--split", default="val", choices=("val", "train"), help="split to score")
    add_scales_flip(p, example="0.5,0.75,1,1.25,1.5,1.75")
    add_task(p, default=None, default_help="the model file's task", choices=TRAINABLE_TASKS)
    p.add_argument("--batch-size", type=int, default=None, help="same-size images per batch")
    p.add_argument("--workers", type=int, default=None, help="DataLoader worker processes")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="also write the metrics as JSON (settings as .settings.yaml beside it)",
    )
    add_settings(p, EvalSettings, example="batch_size=8")
    add_device(p)
    p.set_defaults(func=cmd_eval)
