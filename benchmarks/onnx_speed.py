"""CPU latency of the exported ONNX file against segnas's PyTorch runtime, side by side.

Per design (arch0, arch1, arch2 and seeded random ones; final decoder C=64, R=2, no auxiliary
heads, 21 classes, random weights with random batch-norm statistics), batch 1, one image:
- torch: `InferenceNet` as `segnas bench` times it (BN folded, sub-grids, channels-last),
- onnx plain: the graph as trained (batch norm unfolded), what `segnas export --plain` writes
  and what every export wrote before,
- onnx: what `segnas export` writes now (batch norm folded),
- onnx+sub-grids: that plus dilated depthwise convolutions on sub-grids (`--subgrids`),
the three files in ONNX Runtime's CPU provider with the same intra-op threads as torch. Passes
are interleaved (one of each subject in turn), so drift and other load hit all alike.

    python benchmarks/onnx_speed.py [--size 512] [--runs 20] [--threads 2] [--random 4]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import onnxruntime
import torch
from torch import nn

from segnas.devices import tune_cpu
from segnas.final.export import (
    ExportNet,
    ExportSettings,
    check_parity,
    onnx_session,
    session_runner,
    write_onnx,
)
from segnas.final.inference import inference_net
from segnas.final.recipe import FinalTrainSettings
from segnas.genotype import KNOWN_DESIGNS, Genotype, sample
from segnas.space.builder import DecoderSettings, SegmentationNet, build_network

SUBJECTS = ("torch", "onnx plain", "onnx", "onnx+sub-grids")
EXPORTS = {
    "onnx plain": ExportSettings(plain=True),
    "onnx": ExportSettings(),
    "onnx+sub-grids": ExportSettings(subgrids=True),
}
"""How each file is written (only the graph options matter here)."""


def designs(count: int, seed: int, names: list[str]) -> dict[str, Genotype]:
    """The named known designs, then `count` designs drawn with `seed`."""
    rng = random.Random(seed)
    drawn = {f"random-{i}": sample(rng) for i in range(count)}
    return {name: KNOWN_DESIGNS[name] for name in names} | drawn


@torch.no_grad()
def randomise_batch_norms(net: nn.Module, generator: torch.Generator) -> None:
    """Batch-norm statistics and affine weights like a trained network's (not 0/1): folded
    biases are then non-zero, as they would be, and activations keep their scale."""
    for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
        n = bn.num_features
        bn.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
        bn.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
        bn.weight.copy_(torch.rand(n, generator=generator) + 0.5)
        bn.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def build(genotype: Genotype, classes: int, decoder: DecoderSettings) -> SegmentationNet:
    net = build_network(genotype, classes, decoder, weights=None)
    randomise_batch_norms(net, torch.Generator().manual_seed(0))
    return net.eval()


def onnx_runners(
    net: SegmentationNet, size: int, threads: int, folder: Path
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Each exported form of `net` written with `segnas export`'s code and loaded in a session."""
    runners = {}
    for label, settings in EXPORTS.items():
        path = folder / f"{label.replace(' ', '-')}.onnx"
        model = ExportNet(net, fold_bn=not settings.plain)
        write_onnx(model, path, replace(settings, size=size))
        runners[label] = session_runner(onnx_session(path, threads))
    return runners


def interleaved_ms(
    subjects: dict[str, Callable[[], object]], runs: int, warmup: int
) -> dict[str, list[float]]:
    """Milliseconds per pass of each subject, one pass of each in turn, after `warmup` rounds."""
    for _ in range(warmup):
        for run in subjects.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(runs):
        for name, run in subjects.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def measure_design(
    net: SegmentationNet, args: argparse.Namespace
) -> tuple[dict[str, list[float]], float]:
    """Times of every subject for one design, and the largest logit error of the files."""
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    runtime = inference_net(net, "cpu")
    with tempfile.TemporaryDirectory(prefix="onnx-speed-") as folder:
        runners = onnx_runners(net, args.size, args.threads, Path(folder))
    shapes = [(1, 3, args.size, args.size)]
    errors = [
        max(check_parity(run, ExportNet(net), shapes, 1e-3).values()) for run in runners.values()
    ]
    subjects = {"torch": lambda: runtime(x)} | {k: (lambda r=r: r(x)) for k, r in runners.items()}
    with torch.inference_mode():
        return interleaved_ms(subjects, args.runs, args.warmup), max(errors)


def table_row(name: str, times: dict[str, list[float]]) -> str:
    """Mean ms of each subject (median in brackets), then torch / onnx and plain / onnx."""
    mean = {k: statistics.fmean(v) for k, v in times.items()}
    cells = [f"{mean[k]:7.1f} ({statistics.median(times[k]):6.1f})" for k in SUBJECTS]
    ratios = f"{mean['torch'] / mean['onnx']:9.2f}x {mean['onnx plain'] / mean['onnx']:9.2f}x"
    return f"{name:10} " + " ".join(cells) + " " + ratios


def header(args: argparse.Namespace) -> str:
    policy = os.environ.get("OMP_WAIT_POLICY", "default").lower()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; "
        f"{torch.get_num_threads()} threads (OpenMP waiting {policy}; ONNX Runtime spinning "
        f"{'on' if policy == 'active' else 'off'}), {args.size}x{args.size}, batch 1, "
        f"{args.runs} passes each after {args.warmup} warm-up; load average {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--random", type=int, default=4, help="random designs after the known")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random designs")
    parser.add_argument("--designs", default="arch0,arch1,arch2", help="known designs, or ''")
    parser.add_argument("--channels", type=int, default=None, help="decoder width (default 64)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats (default 2)")
    args = parser.parse_args()
    tune_cpu()
    torch.set_num_threads(args.threads)
    final = FinalTrainSettings().decoder
    decoder = DecoderSettings(
        args.channels or final.channels, args.repeats or final.repeats, "none"
    )
    chosen = designs(args.random, args.seed, [n for n in args.designs.split(",") if n])
    print(header(args))
    print(f"decoder C={decoder.channels}, R={decoder.repeats}, {args.classes} classes")
    print(
        f"{'design':10} "
        + " ".join(f"{k:>16}" for k in SUBJECTS)
        + f" {'torch/onnx':>10} {'plain/onnx':>10}"
    )
    print(f"{'':10} " + " ".join(f"{'mean (median) ms':>16}" for _ in SUBJECTS))
    for name, genotype in chosen.items():
        times, error = measure_design(build(genotype, args.classes, decoder), args)
        print(table_row(name, times) + f"   max logit error {error:.1e}", flush=True)
    for name, genotype in chosen.items():
        if name.startswith("random-"):
            print(f"{name}: {genotype}")
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
