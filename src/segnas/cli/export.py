"""`segnas export`: a model file to ONNX or TorchScript, checked against PyTorch, with a card."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from segnas.cli.options import (
    TRAINABLE_TASKS,
    add_device,
    add_settings,
    add_task,
    model_task,
    resolve_settings,
)
from segnas.devices import resolve_device
from segnas.final.export import FORMATS, ExportSettings, export_model
from segnas.final.model_card import build_card, write_card
from segnas.space.model_file import load_model

SHORTCUTS = {
    "format": "format",
    "size": "size",
    "opset": "opset",
    "tolerance": "tolerance",
    "latency_runs": "latency_runs",
    "plain": "plain",
    "subgrids": "subgrids",
}
"""Options that set an `ExportSettings` field (after --config, before --set)."""


def cmd_export(args: argparse.Namespace) -> int:
    settings = resolve_settings(ExportSettings, args, SHORTCUTS)
    device = resolve_device(args.device)
    net, meta = load_model(Path(args.checkpoint))  # refuses bad files before anything is written
    model_task(args, meta, args.checkpoint)
    console = Console()
    with Progress(console=console, transient=True) as progress:
        total = settings.latency_warmup + settings.latency_runs if settings.latency_runs else 0
        progress.add_task(f"exporting to {settings.format}", total=None)
        timing = progress.add_task("timing the exported file", total=total, visible=False)

        def on_run() -> None:
            progress.update(timing, visible=True, advance=1)

        result = export_model(net, Path(args.output), settings, device, on_run)
    json_path, md_path = write_card(result.path, build_card(net, meta, result))
    worst = max(result.parity.values())
    console.print(
        f"wrote {result.path} ({settings.format}, {result.params:,} parameters, "
        f"max abs error {worst:.2g} at {', '.join(result.parity)})"
    )
    if result.rewrites:
        console.print(f"rewrites: {'; '.join(result.rewrites)}")
    if result.latency is not None:
        lat = result.latency
        console.print(
            f"latency {lat.mean_ms:.2f} ± {lat.std_ms:.2f} ms at {settings.size}x{settings.size} "
            f"({lat.runtime}, {lat.threads} threads, {lat.device})"
        )
    console.print(f"model card {json_path} and {md_path}")
    return 0


def add_export_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="ONNX or TorchScript file of a model, with a model card")
    p.add_argument("checkpoint", help="segnas model file (`segnas train` writes RUN_DIR/model.pt)")
    p.add_argument("-o", "--output", required=True, help="file to write")
    p.add_argument(
        "--format", choices=FORMATS, default=None, help="exported file format (default: onnx)"
    )
    p.add_argument("--size", type=int, default=None, help="square example input (default 512)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version")
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="max logit error vs PyTorch, relative to the largest logit (default 1e-4)",
    )
    p.add_argument(
        "--latency-runs",
        type=int,
        default=None,
        help="timed passes of the file (default 20; 0 skips)",
    )
    p.add_argument(
        "--plain",
        action="store_true",
        default=None,
        help="ONNX: batch norm unfolded, the trained parameters as they are (slower to run)",
    )
    p.add_argument(
        "--subgrids",
        action="store_true",
        default=None,
        help="ONNX: dilated depthwise convolutions on sub-grids (for runtimes slow at dilation)",
    )
    add_settings(p, ExportSettings, example="latency_warmup=5")
    add_task(p, default=None, default_help="the model file's task", choices=TRAINABLE_TASKS)
    add_device(p)
    p.set_defaults(func=cmd_export)
