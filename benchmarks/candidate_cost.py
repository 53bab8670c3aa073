"""Per-candidate cost at the fixed protocol of issue 4, and how much of the machine stage 1 uses.

Protocol: built-in data at 64x64, 200 meta-train / 50 meta-val images, C=48, R=1, auxiliary
cells on, no distillation, stage 1 = 5 epochs at batch 64, stage 2 = 1 epoch at batch 32,
validation after each stage; arch0, arch1, arch2, 3 repeats each.

    python benchmarks/candidate_cost.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from segnas.data import open_dataset
from segnas.encoders import build_encoder
from segnas.genotype import KNOWN_DESIGNS
from segnas.space.builder import DecoderSettings, build_decoder
from segnas.space.cost import layer_madds
from segnas.train.candidate import evaluate_candidate
from segnas.train.search_data import prepare_search_data
from segnas.train.settings import CandidateSettings

PARTS = ("stage1", "val1", "stage2", "val2")
# The authors' implementation measured on this machine (issue 4): stage 1 / val / stage 2 / val.
AUTHORS = {
    "arch0": (11.7, 0.5, 4.8, 0.6),
    "arch1": (5.5, 0.4, 3.4, 0.4),
    "arch2": (3.6, 0.3, 2.8, 0.4),
}


def matmul_gflops(seconds: float = 1.0) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * 1024**3 * count / (time.perf_counter() - start) / 1e9


def conv_gflops(seconds: float = 1.0) -> float:
    """Forward + backward of a 3x3 conv at a shape typical of the decoder (3x forward FLOPs)."""
    x = torch.randn(64, 48, 16, 16, requires_grad=True)
    conv = nn.Conv2d(48, 48, 3, padding=1, bias=False)
    conv(x).sum().backward()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        conv(x).sum().backward()
        count += 1
    flops = 3 * 2 * 64 * 48 * 48 * 9 * 16 * 16
    return flops * count / (time.perf_counter() - start) / 1e9


def decoder_train_flops(genotype, encoder, num_classes: int, taps: list[torch.Tensor]) -> float:
    """FLOPs of one training step per image: 3x the forward pass (aux heads included)."""
    decoder = build_decoder(genotype, encoder, num_classes, DecoderSettings(48, 1, "cell")).train()
    total = [0]

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        total[0] += layer_madds(module, output)

    for m in decoder.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(count)
    batch = [t[:2] for t in taps]
    decoder(batch)
    return 3 * 2 * total[0] / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = CandidateSettings(distill=False)
    with tempfile.TemporaryDirectory() as tmp:
        source = open_dataset("builtin:size=64,train=2000,val=500", cache_dir=Path(tmp) / "b")
        encoder = build_encoder("mobilenet_v2", "imagenet")
        start = time.perf_counter()
        data = prepare_search_data(
            source,
            settings,
            encoder,
            "mobilenet_v2:imagenet",
            train_count=200,
            val_count=50,
            cache_root=Path(tmp),
        )
        precompute = time.perf_counter() - start
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"feature precompute (views + taps, cache miss): {precompute:.2f} s")
    peak_mm, peak_conv = matmul_gflops(), conv_gflops()
    print(f"machine: matmul {peak_mm:.0f} GFLOP/s, 3x3 conv fwd+bwd {peak_conv:.0f} GFLOP/s")
    header = f"{'design':7} {'part':7} {'median s':>9} {'range s':>13} {'authors s':>10}"
    print(header)
    for name, genotype in KNOWN_DESIGNS.items():
        runs = [evaluate_candidate(genotype, settings, data) for _ in range(args.repeats)]
        assert all(r.status == "done" for r in runs), [r.failure for r in runs]
        for part, theirs in zip(PARTS, AUTHORS[name]):
            values = [r.seconds[part] for r in runs]
            print(
                f"{name:7} {part:7} {statistics.median(values):9.2f} "
                f"{min(values):6.2f}-{max(values):<6.2f} {theirs:10.1f}"
            )
        totals = [sum(r.seconds[p] for p in PARTS) for r in runs]
        ours, theirs = statistics.median(totals), sum(AUTHORS[name])
        print(
            f"{name:7} {'total':7} {ours:9.2f} {min(totals):6.2f}-{max(totals):<6.2f} "
            f"{theirs:10.1f}   ratio authors/ours {theirs / ours:.2f}x "
            f"(target >= 3x: {theirs / 3:.1f} s)"
        )
        step_flops = decoder_train_flops(genotype, data.encoder, data.num_classes, data.train_taps)
        achieved = step_flops * 200 * 5 / statistics.median(r.seconds["stage1"] for r in runs)
        print(
            f"{name:7} stage 1 reaches {achieved / 1e9:.1f} GFLOP/s = "
            f"{achieved / 1e9 / peak_mm:.0%} of matmul, {achieved / 1e9 / peak_conv:.0%} of "
            f"conv throughput; reward {statistics.median(r.reward for r in runs):.3f}"
        )


if __name__ == "__main__":
    main()
