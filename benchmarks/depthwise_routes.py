"""Training speed of `ShapeAwareConv2d` against oneDNN's convolutions, side by side in one run.

Part 1: forward + backward of each depthwise op of the search space at the maps a search
sees (batch 64, C=48: the issue-4 protocol), `nn.Conv2d` against `ShapeAwareConv2d` with the
same weights. Part 2: one stage-1 training step (decoder on cached taps, auxiliary cells,
Adam) of arch0, arch1 and arch2, with every `ShapeAwareConv2d` swapped for `nn.Conv2d` and as
built; blocks of steps alternate so that machine noise hits both alike.

    python benchmarks/depthwise_routes.py [--threads 2] [--repeats 6]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from segnas.devices import tune_cpu
from segnas.encoders import build_encoder
from segnas.final.export import plain_convolutions
from segnas.genotype import KNOWN_DESIGNS
from segnas.space.builder import DecoderSettings, build_decoder
from segnas.space.decoder import split_output
from segnas.space.ops import ShapeAwareConv2d

OPS = {"sep3x3": (3, 1), "sep5x5": (5, 1), "sep3x3_r3": (3, 3), "sep5x5_r6": (5, 6)}
SIZES = (4, 8, 16)
BATCH, CHANNELS = 64, 48


def median_ms(step: Callable[[], None], repeats: int, inner: int = 5) -> float:
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        times.append((time.perf_counter() - start) / inner * 1e3)
    return statistics.median(times)


def op_table(repeats: int) -> None:
    print(f"depthwise op fwd+bwd, batch {BATCH}, {CHANNELS} channels (ms)")
    print(f"{'op':10} {'map':>5} {'nn.Conv2d':>10} {'ShapeAware':>11} {'speed-up':>9}")
    for name, (kernel, dilation) in OPS.items():
        for size in SIZES:
            ours = ShapeAwareConv2d(
                CHANNELS,
                CHANNELS,
                kernel,
                padding=dilation * (kernel // 2),
                dilation=dilation,
                groups=CHANNELS,
                bias=False,
            )
            plain = nn.Sequential(copy.deepcopy(ours))
            plain_convolutions(plain)
            x = torch.randn(BATCH, CHANNELS, size, size, requires_grad=True)

            def run(module: nn.Module, x: torch.Tensor = x) -> Callable[[], None]:
                return lambda: module(x).sum().backward()

            a, b = median_ms(run(plain), repeats), median_ms(run(ours), repeats)
            print(f"{name:10} {size:>2}x{size:<2} {a:10.2f} {b:11.2f} {a / b:8.2f}x")


def step_table(repeats: int) -> None:
    encoder = build_encoder("mobilenet_v2", None)
    with torch.no_grad():
        taps = encoder(torch.randn(BATCH, 3, 64, 64))
    print(f"\nstage-1 training step, batch {BATCH} at 64x64, C=48, R=1, aux cells (ms)")
    print(f"{'design':7} {'nn.Conv2d':>10} {'ShapeAware':>11} {'speed-up':>9}")
    for name, genotype in KNOWN_DESIGNS.items():
        torch.manual_seed(0)
        ours = build_decoder(genotype, encoder, 9, DecoderSettings(48, 1, "cell")).train()
        plain = copy.deepcopy(ours)
        plain_convolutions(plain)
        steps = {}
        for label, decoder in (("plain", plain), ("ours", ours)):
            optimizer = torch.optim.Adam(decoder.parameters(), 1e-3)

            def step(decoder: nn.Module = decoder, optimizer=optimizer) -> None:
                out, aux = split_output(decoder(taps))
                loss = out.square().mean() + sum(a.square().mean() for a in aux)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            steps[label] = step
        times: dict[str, list[float]] = {label: [] for label in steps}
        for _ in range(repeats):  # alternate blocks: noise hits both alike
            for label, step in steps.items():
                times[label].append(median_ms(step, 1, inner=3))
        a, b = statistics.median(times["plain"]), statistics.median(times["ours"])
        print(f"{name:7} {a:10.1f} {b:11.1f} {a / b:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    op_table(args.repeats)
    step_table(args.repeats)


if __name__ == "__main__":
    main()
