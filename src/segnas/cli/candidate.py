"""`segnas evaluate`: train and score one candidate exactly as the search would."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from segnas.data import SegmentationSource, check_dataset, open_dataset, require_clean
from segnas.data.builtin.source import default_cache_root
from segnas.devices import resolve_device
from segnas.encoders import build_encoder, encoder_identity
from segnas.genotype import resolve
from segnas.settings_io import add_config_arguments, resolve_config, to_dict
from segnas.space.model_file import load_model, save_model
from segnas.train.candidate import CandidateResult, evaluate_candidate
from segnas.train.search_data import prepare_search_data
from segnas.train.settings import CandidateSettings
from segnas.train.teacher import TeacherSettings, ensure_teacher, resolve_teacher, train_teacher


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset options every training command shares."""
    parser.add_argument("--data", default="builtin", help="dataset spec (see `segnas data`)")
    parser.add_argument("--classes", type=int, default=None, help="classes, when not in the data")
    parser.add_argument(
        "--skip-bad-samples",
        action="store_true",
        help="leave out samples `segnas data check` flags instead of stopping",
    )
    parser.add_argument("--encoder", default="mobilenet_v2")
    parser.add_argument(
        "--encoder-weights", default="imagenet", help="imagenet, none, or a state-dict file"
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")


def open_checked(
    args: argparse.Namespace, console: Console, split: str = "train"
) -> SegmentationSource:
    """Open a split of `--data` and refuse it when `segnas data check` finds errors, unless
    `--skip-bad-samples` leaves them out. The built-in data is generated valid: not checked."""
    source = open_dataset(args.data, split=split, num_classes=args.classes)
    if source.name != "builtin":
        report = check_dataset(source)
        source = require_clean(source, report, args.skip_bad_samples)
        if not report.ok:
            console.print(f"skipped {len(report.bad_ids)} bad {split} samples")
    return source


def result_table(result: CandidateResult) -> Table:
    table = Table(title=f"candidate {result.genotype}")
    for column in ("stage", "reward", "mIoU", "fwIoU", "mean acc", "loss", "seconds"):
        table.add_column(column, justify="right")
    for stage in (1, 2):
        reward = getattr(result, f"stage{stage}_reward")
        if reward is None:
            continue
        m = getattr(result, f"stage{stage}_metrics")
        table.add_row(
            str(stage),
            f"{reward:.4f}",
            f"{m['mean_iou']:.4f}",
            f"{m['fw_iou']:.4f}",
            f"{m['mean_accuracy']:.4f}",
            f"{getattr(result, f'stage{stage}_loss'):.4f}",
            f"{result.seconds[f'stage{stage}'] + result.seconds[f'val{stage}']:.2f}",
        )
    return table


def cmd_evaluate(args: argparse.Namespace) -> int:
    console = Console()
    settings = resolve_config(CandidateSettings, args)
    genotype = resolve(args.arch)
    device = resolve_device(args.device)
    source = open_checked(args, console)
    start = time.perf_counter()
    encoder = build_encoder(
        args.encoder, None if args.encoder_weights == "none" else args.encoder_weights
    )
    teacher, teacher_id = resolve_teacher(
        args.teacher, args.data, args.classes, source, device, say=console.print
    )
    data = prepare_search_data(
        source,
        settings,
        encoder,
        encoder_identity(args.encoder, args.encoder_weights),
        teacher=teacher,
        teacher_id=teacher_id,
        train_count=args.train_count,
        val_count=args.val_count,
        seed=settings.seed,
        device=device,
    )
    prepared = time.perf_counter() - start
    result = evaluate_candidate(genotype, settings, data)
    if args.json:
        print(
            json.dumps(
                {"settings": to_dict(settings), "prepare_seconds": prepared, **result.to_dict()}
            )
        )
        return 0 if result.status != "failed" else 1
    console.print(f"data prepared in {prepared:.1f} s (cache hits: {data.cache_hits})")
    if result.status == "failed":
        console.print(f"[red]failed[/red]: {result.failure}\n{result.traceback}")
        return 1
    console.print(result_table(result))
    console.print(
        f"params {result.params:,}, multiply-adds {result.madds:,} "
        f"at {settings.crop_size}x{settings.crop_size} (search-time network)"
    )
    return 0


def cmd_teacher_train(args: argparse.Namespace) -> int:
    console = Console()
    settings = resolve_config(TeacherSettings, args)
    device = resolve_device(args.device)
    train = open_checked(args, console)
    val = open_dataset(args.data, split="val", num_classes=args.classes)

    def report(epoch: int, loss: float) -> None:
        console.print(f"epoch {epoch + 1}/{settings.fit.epochs}: loss {loss:.4f}")

    if args.output:
        net, meta = train_teacher(train, val, settings, device, on_epoch=report)
        save_model(Path(args.output), net, meta)
        path = Path(args.output)
    else:
        path, hit = ensure_teacher(train, val, settings, default_cache_root(), device, report)
        if hit:
            console.print("(already trained: cached)")
    _, meta = load_model(path)
    val_figures = meta.info.get("val", {})
    console.print(f"teacher written to {path}")
    if val_figures:
        console.print(
            f"val: mIoU {val_figures['mean_iou']:.4f}, "
            f"reward {val_figures['reward']:.4f}, "
            f"pixel accuracy {val_figures['pixel_accuracy']:.4f}"
        )
    return 0


def add_train_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="train and score one candidate as the search would")
    p.add_argument("arch", help="known design or JSON encoding")
    add_data_arguments(p)
    p.add_argument("--train-count", type=int, default=None, help="meta-train images to use")
    p.add_argument("--val-count", type=int, default=None, help="meta-val images to use")
    p.add_argument(
        "--teacher",
        default="none",
        help="none, auto (train and cache the default teacher), a segnas model file "
        "or torchvision:NAME:FILE",
    )
    p.add_argument("--json", action="store_true")
    add_config_arguments(p, CandidateSettings)
    p.set_defaults(func=cmd_evaluate)

    teacher = sub.add_parser("teacher", help="the teacher network used for distillation")
    teacher_sub = teacher.add_subparsers(dest="teacher_command", required=True)
    p = teacher_sub.add_parser("train", help="train the default teacher on a dataset")
    add_data_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="model file to write (default: the teacher cache the search uses)",
    )
    add_config_arguments(p, TeacherSettings)
    p.set_defaults(func=cmd_teacher_train)
