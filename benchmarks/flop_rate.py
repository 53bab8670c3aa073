"""How fast the machine multiplies, and how many FLOPs a decoder's training step needs.

Printed beside timings so that a figure can be read against the machine it came from, and so
that a drift in the machine's speed during a run shows.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from segnas.encoders import Encoder
from segnas.genotype import Genotype
from segnas.space.builder import DecoderSettings, build_decoder
from segnas.space.cost import layer_madds


def matmul_gflops(seconds: float = 1.0) -> float:
    """GFLOP/s of a 1024 x 1024 float32 matrix product, repeated for `seconds`."""
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


def decoder_train_flops(
    genotype: Genotype,
    encoder: Encoder,
    num_classes: int,
    decoder: DecoderSettings,
    taps: list[torch.Tensor],
) -> float:
    """FLOPs of one training step per image: 3x the convolutions' forward pass, aux included."""
    net = build_decoder(genotype, encoder, num_classes, decoder).train()
    total = [0]

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        total[0] += layer_madds(module, output)

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(count)
    net([t[:2] for t in taps])
    return 3 * 2 * total[0] / 2
