"""`segnas bench`: the paper's runtime protocol for designs or trained model files.

By default the deployable runtime (`InferenceNet`: batch norm folded, rate-d depthwise
convolutions on sub-grids, channels-last) is timed, with full-size logits; `--plain` times the
unoptimised eval network instead, and `--compare` adds torchvision's MobileNetV3 segmentation
models and, when segmentation_models_pytorch is installed, the hand-designed baselines
(`smp:unet`, ...; untrained, through the same runtime as the subjects) measured in the same run.
Exported files are timed beside them: a `.onnx` subject runs in ONNX Runtime (CPU provider, or
CUDA's on a CUDA device when installed, as many intra-op threads as torch), and `--onnx` adds
after every design or model file its deployed ONNX form (`segnas export`'s, written to a
temporary folder) as `NAME (onnxruntime)`. A `.onnx` file's multiply-adds are counted on its
graph at the timed size; its parameters are the model card's beside it (the model's own count,
as in the other rows, while the file holds batch norm folded), else its graph's.
Several ARCH arguments are timed one after another in one process, so their figures share the
machine's state (clock, cache, load) as far as it can be shared.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from torch import nn

from segnas.baselines import BASELINES, INSTALL_HINT, BaselineNet, build_baseline, smp_available
from segnas.cli.design import add_network_options
from segnas.cli.options import TRAINABLE_TASKS, add_design, add_device, add_task, model_task
from segnas.devices import resolve_device
from segnas.final.arch_ref import resolve_arch
from segnas.final.bench import (
    TORCHVISION_MODELS,
    BenchResult,
    benchmark,
    benchmark_runner,
    model_cost,
    torchvision_models,
)
from segnas.final.export import Runner, onnx_providers, onnx_runner, onnx_session, session_runner
from segnas.final.inference import PlainNet, inference_net
from segnas.final.model_card import read_card
from segnas.final.onnx_graph import graph_madds, graph_params
from segnas.space.builder import DecoderSettings, build_network
from segnas.space.model_file import SegmentationModel, load_model
from segnas.tasks import make_task

REFERENCE = TORCHVISION_MODELS[0]


def baseline_models(num_classes: int) -> dict[str, BaselineNet]:
    """The hand-designed baselines, untrained; none when SMP is not installed."""
    if not smp_available():
        return {}
    return {name: build_baseline(name, num_classes, weights=None) for name in BASELINES}


def load_subject(arch: str, args: argparse.Namespace) -> tuple[str, SegmentationModel]:
    """A model file's trained network, else a design (or baseline) built with the final
    settings."""
    if Path(arch).is_file() and not Path(arch).read_bytes()[:64].lstrip().startswith(b"["):
        net, meta = load_model(Path(arch))
        model_task(args, meta, arch)
        return arch, net  # as typed: `runs/x/model.pt` says more than `model.pt`
    resolved = resolve_arch(arch)
    classes = make_task(args.task or "segmentation", args.classes).out_channels
    if resolved.baseline is not None:
        return resolved.text, build_baseline(
            resolved.baseline, classes, weights=None, encoder=args.encoder
        )
    config = DecoderSettings(channels=args.channels, repeats=args.repeats, aux_mode="none")
    net = build_network(resolved.searched(), classes, config, args.encoder, weights=None)
    return resolved.text, net


ONNX_SUFFIX = " (onnxruntime)"
"""Added to a subject's name for the row of its exported form (`--onnx`)."""


@dataclass(frozen=True)
class OnnxSubject:
    """An exported file run by ONNX Runtime, with its parameters and multiply-adds (None:
    unknown)."""

    runner: Runner
    params: int | None
    madds: int | None
    device: str


Subject = nn.Module | OnnxSubject


def onnx_device(device: torch.device) -> str:
    """Where ONNX Runtime runs for `device`: CUDA only when its provider is installed."""
    return str(device) if onnx_providers(device)[0] == "CUDAExecutionProvider" else "cpu"


def onnx_file_cost(path: Path, size: int) -> tuple[int | None, int | None]:
    """(parameters, multiply-adds at size x size) of an ONNX file; see the module docstring."""
    import onnx

    card = read_card(path) or {}
    params = card.get("params")
    if not isinstance(params, int):
        params = graph_params(onnx.load(str(path))) or None
    madds = graph_madds(path, size) or None
    if madds is None and card.get("madds_input_size") == [size, size]:
        madds = card.get("madds")
    return params, madds


def onnx_file_subject(path: Path, size: int, device: torch.device) -> OnnxSubject:
    """A `.onnx` subject, refused with its name when ONNX Runtime cannot load it."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file (a .onnx subject is an exported ONNX file)")
    try:
        session = onnx_session(path, torch.get_num_threads(), device)
        params, madds = onnx_file_cost(path, size)
    except Exception as error:  # onnxruntime's and onnx's errors have no common base
        raise ValueError(f"{path}: not an ONNX file ONNX Runtime can run ({error})") from None
    return OnnxSubject(session_runner(session), params, madds, onnx_device(device))


def onnx_twin(
    net: SegmentationModel, module: nn.Module, size: int, device: torch.device
) -> OnnxSubject:
    """The deployed ONNX form of a subject, with the subject's own parameters and multiply-adds."""
    params, madds = model_cost(module, (size, size), device)
    runner = onnx_runner(net, size, torch.get_num_threads(), device)
    return OnnxSubject(runner, params, madds, onnx_device(device))


def time_subject(
    subject: Subject,
    size: int,
    device: torch.device,
    args: argparse.Namespace,
    on_run: Callable[[], None],
) -> BenchResult:
    """One subject's figures: a PyTorch module on `device`, an exported file in ONNX Runtime."""
    if isinstance(subject, OnnxSubject):
        return benchmark_runner(
            subject.runner,
            "",
            subject.params,
            subject.madds,
            (size, size),
            subject.device,
            args.runs,
            args.warmup,
            on_run=on_run,
        )
    return benchmark(
        subject.to(device), (size, size), device, args.runs, args.warmup, on_run=on_run
    )


def onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def _figure(value: int | None, scale: float) -> str:
    return "-" if value is None else f"{value / scale:.3f}"


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
            _figure(r.params, 1e6),
            _figure(r.madds, 1e9),
            f"{r.output_size[0]}x{r.output_size[1]}",
        )
    return table


def cmd_bench(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads: got {args.threads}, expected >= 1")
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    models: dict[str, Subject] = {}
    num_classes = args.classes
    for arch in dict.fromkeys(args.arch):  # each once, in the order given
        if arch.endswith(".onnx"):
            models[arch] = onnx_file_subject(Path(arch), args.size, device)
            continue
        name, net = load_subject(arch, args)
        num_classes = net.num_classes  # the last subject's, for --compare
        models[name] = PlainNet(net) if args.plain else inference_net(net, device)
        if args.onnx:
            models[name + ONNX_SUFFIX] = onnx_twin(net, models[name], args.size, device)
    if args.compare:
        models.update(torchvision_models(num_classes))
        baselines = baseline_models(num_classes)
        for name, baseline in baselines.items():  # a baseline given as a subject stays first
            models.setdefault(
                name, PlainNet(baseline) if args.plain else inference_net(baseline, device)
            )
        if not baselines:
            Console(stderr=True).print(
                f"note: the hand-designed baselines ({', '.join(BASELINES)}) are left out: "
                f"segmentation-models-pytorch is not installed ({INSTALL_HINT})",
                markup=False,  # the hint's brackets are text, not a style
            )
    results = []
    console = Console(stderr=args.json)
    with Progress(console=console, transient=True) as progress:
        for label, module in models.items():
            task = progress.add_task(f"timing {label}", total=args.warmup + args.runs)
            on_run = partial(progress.advance, task)
            result = time_subject(module, args.size, device, args, on_run)
            results.append(replace(result, name=label))
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
        return 0
    runtime = "plain eval network" if args.plain else "segnas runtime (BN folded)"
    title = (
        f"{args.size}x{args.size}, batch 1, {device}, {torch.get_num_threads()} threads "
        f"(OpenMP waiting {os.environ.get('OMP_WAIT_POLICY', 'default').lower()}), "
        f"{args.runs} runs after {args.warmup} warm-up; searched designs and baselines: {runtime}"
    )
    if any(isinstance(m, OnnxSubject) for m in models.values()):
        title += f"; .onnx and (onnxruntime) rows: ONNX Runtime {onnxruntime_version()}"
    Console().print(results_table(results, title))
    return 0


def add_bench_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="inference latency (paper protocol), vs torchvision too")
    add_design(
        p,
        many=True,
        extra="segnas model files (their trained network), exported .onnx files or designs; ",
    )
    p.add_argument("--size", type=int, default=512, help="square input size")
    p.add_argument("--runs", type=int, default=100, help="timed forward passes")
    p.add_argument("--warmup", type=int, default=10, help="untimed passes first")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    add_network_options(p)  # for designs; a model file brings its own
    p.add_argument(
        "--compare",
        action="store_true",
        help="add torchvision's MobileNetV3 models and the SMP baselines (smp:unet, ...)",
    )
    p.add_argument("--plain", action="store_true", help="time the unoptimised eval network")
    p.add_argument(
        "--onnx",
        action="store_true",
        help="add each design's exported ONNX file, timed in ONNX Runtime",
    )
    p.add_argument("--json", action="store_true", help="one JSON list of results")
    add_task(p, default=None, default_help="the model file's task", choices=TRAINABLE_TASKS)
    add_device(p)
    p.set_defaults(func=cmd_bench)
