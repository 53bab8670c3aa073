"""`segnas evaluate` (one candidate, trained as a search trains it) and `segnas teacher train`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from segnas.cli.options import (
    TASK_SHORTCUTS,
    add_data,
    add_depth_options,
    add_design,
    add_device,
    add_encoder,
    add_seed,
    add_settings,
    add_task,
    depth_options,
    open_checked,
    resolve_settings,
)
from segnas.data import open_dataset
from segnas.data.builtin.source import default_cache_root
from segnas.devices import resolve_device
from segnas.final.arch_ref import resolve_arch
from segnas.search.run import prepare
from segnas.search.settings import SearchSettings
from segnas.settings_io import to_dict
from segnas.space.model_file import load_model, save_model
from segnas.tasks import task_for_source
from segnas.train.candidate import CandidateResult, evaluate_candidate
from segnas.train.teacher import TeacherSettings, ensure_teacher, train_teacher

EVALUATE_SHORTCUTS = {
    "data": "data",
    "classes": "classes",
    "skip_bad_samples": "skip_bad_samples",
    "encoder": "encoder",
    "encoder_weights": "encoder_weights",
    "teacher": "teacher",
    "train_count": "train_count",
    "val_count": "val_count",
    "seed": "seed",
    **TASK_SHORTCUTS,
}
"""`segnas evaluate` options that set a `SearchSettings` field, as `segnas search` reads them."""


FIGURES = {
    "segmentation": (("mIoU", "mean_iou"), ("fwIoU", "fw_iou"), ("mean acc", "mean_accuracy")),
    "depth": (("δ<1.25", "delta1"), ("abs rel", "abs_rel"), ("RMSE", "rmse")),
}
"""Columns of the candidate table per task: (label, metric key)."""


def result_table(result: CandidateResult) -> Table:
    table = Table(title=f"candidate {result.genotype}")
    metrics = result.stage1_metrics or {}
    figures = FIGURES["segmentation" if "mean_iou" in metrics else "depth"]
    for column in ("stage", "reward", *(label for label, _ in figures), "loss", "seconds"):
        table.add_column(column, justify="right")
    for stage in (1, 2):
        reward = getattr(result, f"stage{stage}_reward")
        if reward is None:
            continue
        m = getattr(result, f"stage{stage}_metrics")
        table.add_row(
            str(stage),
            f"{reward:.4f}",
            *(f"{m[key]:.4f}" for _, key in figures),
            f"{getattr(result, f'stage{stage}_loss'):.4f}",
            f"{result.seconds[f'stage{stage}'] + result.seconds[f'val{stage}']:.2f}",
        )
    return table


def cmd_evaluate(args: argparse.Namespace) -> int:
    console = Console(stderr=args.json)
    settings = resolve_settings(SearchSettings, args, EVALUATE_SHORTCUTS)
    genotype = resolve_arch(args.arch).searched()
    device = resolve_device(args.device)
    start = time.perf_counter()
    data = prepare(settings, None, device, console)  # the search's own step: same views, teacher
    prepared = time.perf_counter() - start
    result = evaluate_candidate(genotype, settings.evaluation, data, seed=settings.seed)
    if args.json:
        payload = {"settings": to_dict(settings), "prepare_seconds": prepared, **result.to_dict()}
        print(json.dumps(payload))
        return 0 if result.status != "failed" else 1
    if result.status == "failed":
        console.print(f"[red]failed[/red]: {result.failure}\n{result.traceback}")
        return 1
    console.print(result_table(result))
    crop = settings.evaluation.crop_size
    console.print(
        f"params {result.params:,}, multiply-adds {result.madds:,} "
        f"at {crop}x{crop} (search-time network)"
    )
    return 0


def cmd_teacher_train(args: argparse.Namespace) -> int:
    console = Console()
    settings = resolve_settings(TeacherSettings, args)
    device = resolve_device(args.device)
    train = open_checked(args, console)
    val = open_dataset(args.data, split="val", num_classes=args.classes, task=args.task)
    task = task_for_source(args.task, train, depth_options(args))

    def report(epoch: int, loss: float) -> None:
        console.print(f"epoch {epoch + 1}/{settings.fit.epochs}: loss {loss:.4f}")

    if args.output:
        net, meta = train_teacher(train, val, settings, device, task, on_epoch=report)
        save_model(Path(args.output), net, meta)
        path = Path(args.output)
    else:
        path, hit = ensure_teacher(train, val, settings, default_cache_root(), device, task, report)
        if hit:
            console.print("(already trained: cached)")
    _, meta = load_model(path)
    val_figures = meta.info.get("val", {})
    console.print(f"teacher written to {path}")
    if val_figures:
        figures = FIGURES[task.name]
        shown = ", ".join(f"{label} {val_figures[key]:.4f}" for label, key in figures)
        console.print(f"val: reward {val_figures['reward']:.4f}, {shown}")
    return 0


def add_candidate_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="train and score one candidate as a search would",
        description="Train ARCH in the search's two stages and score it on meta-val. Every "
        "default, and --preset/--config/--set, is `segnas search`'s (SearchSettings: teacher "
        "auto, 300 meta-train / 100 meta-val views, the `evaluation` block), so the candidate "
        "sees the same data, teacher and schedule as in a search with the same settings. One "
        "difference: both stages always run (a search may stop a candidate after stage 1).",
    )
    add_design(p)
    add_data(p, default=None)
    add_task(p, default=None)
    add_depth_options(p)
    add_encoder(p)
    p.add_argument(
        "--teacher",
        default=None,
        help="auto (the default: train and cache the default teacher), none, a segnas model "
        "file or torchvision:NAME:FILE",
    )
    p.add_argument("--train-count", type=int, default=None, help="meta-train images (default 300)")
    p.add_argument("--val-count", type=int, default=None, help="meta-val images (default 100)")
    add_seed(p, "the split, the views and the candidate's training (default 0)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    add_settings(p, SearchSettings, example="evaluation.stage1.epochs=3", presets=True)
    add_device(p)
    p.set_defaults(func=cmd_evaluate)

    teacher = sub.add_parser("teacher", help="the teacher network used for distillation")
    teacher_sub = teacher.add_subparsers(dest="teacher_command", required=True, metavar="COMMAND")
    p = teacher_sub.add_parser("train", help="train the default teacher on a dataset")
    add_data(p)
    add_task(p)
    add_depth_options(p)
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="model file to write (default: the teacher cache the search uses)",
    )
    add_settings(p, TeacherSettings, example="fit.epochs=5")
    add_device(p)
    p.set_defaults(func=cmd_teacher_train)
