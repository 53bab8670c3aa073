"""`segnas bench`: the paper's runtime protocol for designs or trained model files.

By default the deployable runtime (`InferenceNet`: batch norm folded, rate-d depthwise
convolutions on sub-grids, channels-last) is timed, with full-size logits; `--plain` times the
unoptimised eval network instead, and `--compare` adds torchvision's MobileNetV3 segmentation
models measured in the same run. Several ARCH arguments are timed one after another in one
process, so their figures share the machine's state (clock, cache, load) as far as it can be shared.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from torch import nn

from segnas.cli.design import add_network_options
from segnas.cli.options import add_design, add_device
from segnas.devices import resolve_device
from segnas.final.arch_ref import resolve_arch
from segnas.final.bench import BenchResult, benchmark
from segnas.final.inference import PlainNet, inference_net
from segnas.space.builder import DecoderSettings, SegmentationNet, build_network
from segnas.space.model_file import load_model

REFERENCE = "lraspp_mobilenet_v3_large"


def torchvision_models(num_classes: int) -> dict[str, nn.Module]:
    """The comparison models, untrained (latency does not depend on the weights)."""
    from torchvision.models import segmentation

    return {
        name: getattr(segmentation, name)(
            weights=None, weights_backbone=None, num_classes=num_classes
        )
        for name in (REFERENCE, "deeplabv3_mobilenet_v3_large")
    }


def load_subject(arch: str, args: argparse.Namespace) -> tuple[str, SegmentationNet]:
    """A model file's trained network, else a design built with the final settings."""
    if Path(arch).is_file() and not Path(arch).read_bytes()[:64].lstrip().startswith(b"["):
        net, _ = load_model(Path(arch))
        return arch, net  # as typed: `runs/x/model.pt` says more than `model.pt`
    resolved = resolve_arch(arch)
    config = DecoderSettings(channels=args.channels, repeats=args.repeats, aux_mode="none")
    net = build_network(resolved.genotype, args.classes, config, encoder=args.encoder, weights=None)
    return resolved.text, net


def results_table(results: list[BenchResult], title: str) -> Table:
    table = Table(title=title)
    columns = ("model", "ms", "± ms", "vs LRASPP", "params M", "madds B", "output")
    for column in columns:
        first = column == "model"  # long names and paths fold, so the table fits 80 columns
        table.add_column(column, justify="left" if first else "right", overflow="fold")
    reference = next((r.mean_ms for r in results if r.name == REFERENCE), None)
    for r in results:
        ratio = f"{reference / r.mean_ms:.2f}x" if reference else "-"
        table.add_row(
            r.name,
            f"{r.mean_ms:.1f}",
            f"{r.std_ms:.1f}",
            ratio,
            f"{r.params / 1e6:.3f}",
            f"{r.madds / 1e9:.3f}",
            f"{r.output_size[0]}x{r.output_size[1]}",
        )
    return table


def cmd_bench(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads: got {args.threads}, expected >= 1")
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    models: dict[str, nn.Module] = {}
    for arch in dict.fromkeys(args.arch):  # each once, in the order given
        name, net = load_subject(arch, args)
        models[name] = PlainNet(net) if args.plain else inference_net(net, device)
    if args.compare:
        num_classes = net.decoder.head.classifier.out_channels  # the last subject's
        models.update(torchvision_models(num_classes))
    size = (args.size, args.size)
    results = []
    console = Console(stderr=args.json)
    with Progress(console=console, transient=True) as progress:
        for label, module in models.items():
            task = progress.add_task(f"timing {label}", total=args.warmup + args.runs)
            result = benchmark(
                module.to(device),
                size,
                device,
                args.runs,
                args.warmup,
                on_run=lambda task=task: progress.advance(task),
            )
            results.append(replace(result, name=label))
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
        return 0
    runtime = "plain eval network" if args.plain else "segnas runtime (BN folded)"
    title = (
        f"{args.size}x{args.size}, batch 1, {device}, {torch.get_num_threads()} threads "
        f"(OpenMP waiting {os.environ.get('OMP_WAIT_POLICY', 'default').lower()}), "
        f"{args.runs} runs after {args.warmup} warm-up; searched designs: {runtime}"
    )
    Console().print(results_table(results, title))
    return 0


def add_bench_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="inference latency (paper protocol), vs torchvision too")
    add_design(p, many=True, extra="segnas model files (their trained network) or designs; ")
    p.add_argument("--size", type=int, default=512, help="square input size")
    p.add_argument("--runs", type=int, default=100, help="timed forward passes")
    p.add_argument("--warmup", type=int, default=10, help="untimed passes first")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    add_network_options(p)  # for designs; a model file brings its own
    p.add_argument("--compare", action="store_true", help="add torchvision's MobileNetV3 models")
    p.add_argument("--plain", action="store_true", help="time the unoptimised eval network")
    p.add_argument("--json", action="store_true", help="one JSON list of results")
    add_device(p)
    p.set_defaults(func=cmd_bench)
