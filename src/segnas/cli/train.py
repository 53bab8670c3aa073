"""`segnas train ARCH`: full training of a final model by the staged recipe, resumable."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from segnas.baselines import import_smp
from segnas.cli.options import (
    TRAINABLE_TASKS,
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
from segnas.devices import resolve_device
from segnas.final.arch_ref import ArchRef, resolve_arch
from segnas.final.depth_eval import depth_table
from segnas.final.recipe import FinalTrainSettings, depth_recipe, pose_recipe
from segnas.final.train import FinalRun, train_final
from segnas.settings_io import load_yaml
from segnas.tasks import task_for_source
from segnas.train.stages import NonFiniteLossError


def default_run_dir(arch: ArchRef) -> Path:
    """`runs/train-<arch>-<time>`, beside the `runs/search-<time>` folders of `segnas search`."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"train-{arch.slug}-{stamp}"


SHORTCUTS = {"seed": "seed"}
"""Options that set a `FinalTrainSettings` field (after --config, before --set)."""


def _settings(args: argparse.Namespace, run_dir: Path) -> FinalTrainSettings:
    """A resumed run's stored settings are the base layer; what is given here goes on top (and
    `train_final` refuses a resume whose settings then differ)."""
    stored = run_dir / "config.yaml"
    base = load_yaml(FinalTrainSettings, stored) if args.resume and stored.is_file() else None
    if base is None and args.task == "depth":
        base = depth_recipe()
    if base is None and args.task == "pose":
        base = pose_recipe()
    return resolve_settings(FinalTrainSettings, args, SHORTCUTS, base=base)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


SEGMENTATION_TABLE = (
    ("class", "per_class_iou", "IoU"),
    (
        ("mIoU", "miou"),
        ("fwIoU", "fwiou"),
        ("pixel accuracy", "pixel_acc"),
        ("mean class accuracy", "mean_acc"),
    ),
)
POSE_TABLE = (
    ("joint", "per_joint_pckh", "PCKh"),
    (("PCKh", "pckh"), ("PCKh@0.1", "pckh_0.1"), ("mean OKS", "mean_oks")),
)
"""(what the rows are, the per-row metric key, its label) and the summary figures' (label, key)."""


def results_table(run: FinalRun, epochs: int, layout: tuple = SEGMENTATION_TABLE) -> Table:
    """The last epoch's per-class IoU (pose: per-joint PCKh), then the summary figures (mIoU,
    fwIoU, pixel and mean class accuracy; pose: PCKh, PCKh@0.1, mean OKS)."""
    (what, per_key, per_label), figures = layout
    table = Table(title=f"validation after epoch {len(run.history)}/{epochs}")
    table.add_column(f"{what} / figure")
    table.add_column("value", justify="right")
    rows = list(run.metrics[per_key].items())
    for i, (name, value) in enumerate(rows):
        table.add_row(f"{per_label} {name}", _num(value), end_section=i == len(rows) - 1)
    for label, key in figures:
        table.add_row(f"[bold]{label}", f"[bold]{_num(run.metrics[key])}")
    return table


def cmd_train(args: argparse.Namespace) -> int:
    console = Console()
    if args.resume and not args.run_dir:
        raise ValueError("--resume needs --run-dir DIR, the run to continue")
    arch = resolve_arch(args.arch)
    if arch.baseline is not None:
        import_smp()  # before any data is opened: a missing package says how to install it
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(arch)
    settings = _settings(args, run_dir)
    device = resolve_device(args.device)
    train = open_checked(args, console)
    val = open_checked(args, console, split="val")
    task = task_for_source(args.task, train, depth_options(args))
    what = f"{train.num_classes} classes" if task.name == "segmentation" else task.name
    console.print(f"[bold]{arch.text}[/bold] {arch.design}")
    console.print(
        f"data {args.data}: {len(train)} train / {len(val)} val images, {what}; "
        f"{settings.epochs} epochs in {settings.num_stages} stages on {device}"
    )
    console.print(f"run directory: {run_dir}")
    try:
        run = train_final(
            arch,
            train,
            val,
            settings,
            run_dir,
            device,
            dataset=args.data,
            encoder=args.encoder or "mobilenet_v2",
            encoder_weights=args.encoder_weights or "imagenet",
            resume=args.resume,
            console=console,
            task=task,
        )
    except NonFiniteLossError as error:
        raise ValueError(
            f"training diverged ({error}); start a new run with lower learning rates "
            "(--set encoder_lr=... --set decoder_lr=...)"
        ) from None
    if task.name == "depth":
        title = f"validation after epoch {len(run.history)}/{settings.epochs}"
        console.print(depth_table({arch.text: run.metrics}, title))
    elif task.name == "pose":
        console.print(results_table(run, settings.epochs, POSE_TABLE))
    else:
        console.print(results_table(run, settings.epochs))
    seconds = sum(r["seconds"] + r["val_seconds"] for r in run.history)
    console.print(f"trained in {seconds / 60:.1f} min (training + validation, all epochs)")
    for label, path, note in (
        ("model", run.model_path, "aux heads dropped; for `segnas eval`, `predict`, `export`"),
        ("checkpoint", run.checkpoint_path, "continue with --resume"),
        ("history", run.run_dir / "history.json", "per-epoch loss, metrics, lr"),
        ("settings", run.run_dir / "config.yaml", "reload with --config"),
    ):
        console.print(f"{label:<11} {path}  [dim]({note})[/dim]")
    return 0


def add_final_train_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="full training of a final model (staged recipe)")
    add_design(p)
    add_data(p)
    add_encoder(p)
    add_task(p, choices=TRAINABLE_TASKS)
    add_depth_options(p)
    add_seed(p, "weight initialisation and batch order (default 0)")
    p.add_argument(
        "--run-dir", default=None, help="where results go (default runs/train-ARCH-TIME)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir from its checkpoint"
    )
    add_settings(p, FinalTrainSettings, example="epochs_per_stage=3")
    add_device(p)
    p.set_defaults(func=cmd_train)
