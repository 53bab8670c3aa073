"""The ops table in `OP_NAMES` order: one factory per op name, all C -> C channels, stride 1."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from segnas.genotype import OP_NAMES
from segnas.space.subgrids import from_subgrids, to_subgrids

ConvT = TypeVar("ConvT", bound=nn.Conv2d)

MATMUL_TAPS_RATIO = 12
"""Depthwise dilated convolutions on small maps run as matrix products while H*W <= this x taps."""
SMALL_MAP = 100
"""Pixels (about 10x10) above which a depthwise dilated convolution runs on its sub-grids."""
UNDILATED_MATMUL_TAPS_RATIO = 4
"""Undilated depthwise convolutions of more than 9 taps run as matrix products while H*W <= this
x taps: oneDNN's 3x3 depthwise kernels are fast at every size, its 5x5 ones slow on small maps."""


@lru_cache(maxsize=16)
def _tap_matrices(
    height: int, width: int, kh: int, kw: int, dilation: int, device: torch.device
) -> torch.Tensor:
    """(taps, HW * HW) 0/1: entry (t, i * HW + j) says tap t links output pixel i to input j.

    Built outside inference mode, so a matrix first made while validating can still train.
    """
    with torch.inference_mode(False):
        return _build_tap_matrices(height, width, kh, kw, dilation).to(device)


def _build_tap_matrices(height: int, width: int, kh: int, kw: int, dilation: int) -> torch.Tensor:
    n = height * width
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    out = (ys * width + xs).flatten()
    onehot = torch.zeros(kh * kw, n, n)
    for tap in range(kh * kw):
        sy = ys + (tap // kw - kh // 2) * dilation
        sx = xs + (tap % kw - kw // 2) * dilation
        inside = ((sy >= 0) & (sy < height) & (sx >= 0) & (sx < width)).flatten()
        onehot[tap, out[inside], (sy * width + sx).flatten()[inside]] = 1.0
    return onehot.reshape(kh * kw, n * n)


def depthwise_as_matmul(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """A depthwise 'same' convolution written as one (H*W, H*W) matrix per channel.

    On the small maps of the search (16x16 and below) oneDNN's dilated depthwise kernels run at
    a few percent of the machine's speed; dense matrix products waste multiplies on zeros yet
    are faster there.
    """
    b, c, h, w = x.shape
    kh, kw = weight.shape[-2:]
    onehot = _tap_matrices(h, w, kh, kw, dilation, x.device).to(x.dtype)
    matrices = (weight.reshape(c, kh * kw) @ onehot).reshape(c, h * w, h * w)  # (C, HW, HW)
    y = torch.bmm(matrices, x.reshape(b, c, h * w).permute(1, 2, 0))  # (C, HW, B)
    return y.permute(2, 0, 1).reshape(b, c, h, w)


class ShapeAwareConv2d(nn.Conv2d):
    """A stride-1 'same' convolution that picks its computation from the input's size.

    The weights, the output and the gradients are those of `nn.Conv2d`; only the arithmetic
    differs, chosen per call because the same decoder sees 2x2 to 16x16 maps while searching
    and 128x128 ones when trained on real images (fwd + bwd measured on this project's CPU
    machine at the search's shapes, batch 64, 48 channels):

    - dilated kernel taps that can only ever see zero padding are dropped (2x2 taps at rate 12
      on an 8x8 map keep 1 of 9);
    - depthwise dilated ones on small maps run as matrix products (`depthwise_as_matmul`:
      2-4x faster than oneDNN at 8x8), on larger maps on their d x d sub-grids without dilation
      (`segnas.space.subgrids`: 16x16, 3x3 rate 3 1.4x, 5x5 rate 6 2-3x faster);
    - undilated 5x5 depthwise ones on small maps run as matrix products (2x faster at 4x4-8x8).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre, dilation = self.kernel_size[0] // 2, self.dilation[0]
        keep_h = min(centre, (x.shape[-2] - 1) // dilation)
        keep_w = min(centre, (x.shape[-1] - 1) // dilation)
        weight = self.weight[
            :, :, centre - keep_h : centre + keep_h + 1, centre - keep_w : centre + keep_w + 1
        ]
        if self.groups == self.in_channels == self.out_channels:
            y = _depthwise(x, weight, dilation)
            return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
        padding = (dilation * keep_h, dilation * keep_w)
        return F.conv2d(x, weight, self.bias, 1, padding, self.dilation, self.groups)


def _depthwise(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """A depthwise 'same' convolution by the fastest exact route (see `ShapeAwareConv2d`).

    `weight` is already trimmed to the taps that can reach the map, on its sub-grids too:
    ceil(H / d) - 1 == (H - 1) // d.
    """
    area = x.shape[-2] * x.shape[-1]
    kh, kw = weight.shape[-2:]
    taps = kh * kw
    if dilation > 1 and area > SMALL_MAP:
        sub, shape = to_subgrids(x, dilation)
        return from_subgrids(_depthwise(sub, weight, 1), dilation, shape)
    if dilation > 1:
        matmul = area <= MATMUL_TAPS_RATIO * taps
    else:
        matmul = taps > 9 and area <= UNDILATED_MATMUL_TAPS_RATIO * taps
    if matmul:
        return depthwise_as_matmul(x, weight, dilation)
    padding = (dilation * (kh // 2), dilation * (kw // 2))
    return F.conv2d(x, weight, None, 1, padding, dilation, x.shape[1])


def conv_like(cls: type[ConvT], conv: nn.Conv2d) -> ConvT:
    """A `cls` (an `nn.Conv2d` subclass, or itself) with `conv`'s settings, device and weights."""
    new = cls(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    new.load_state_dict(conv.state_dict())
    return new


def _conv(cin: int, cout: int, kernel: int, dilation: int = 1, groups: int = 1) -> nn.Conv2d:
    conv = ShapeAwareConv2d if dilation > 1 or groups > 1 else nn.Conv2d
    padding = dilation * (kernel - 1) // 2
    return conv(cin, cout, kernel, padding=padding, dilation=dilation, groups=groups, bias=False)


class ConvBNReLU(nn.Sequential):
    """conv (no bias) - BN - ReLU, padding that keeps the spatial size."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 1, dilation: int = 1, groups: int = 1
    ) -> None:
        super().__init__(
            _conv(cin, cout, kernel, dilation, groups),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class SepConv(nn.Sequential):
    """(depthwise k x k - pointwise 1x1 - BN - ReLU) x repeats."""

    def __init__(self, channels: int, kernel: int, dilation: int = 1, repeats: int = 1) -> None:
        layers: list[nn.Module] = []
        for _ in range(repeats):
            layers += [
                _conv(channels, channels, kernel, dilation, groups=channels),
                nn.Conv2d(channels, channels, 1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        super().__init__(*layers)


class GlobalPool(nn.Module):
    """Global average pool - conv 1x1 - BN - ReLU - bilinear upsample back to the input size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = ConvBNReLU(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        pooled = self.proj(F.adaptive_avg_pool2d(x, 1))  # (B, C, 1, 1)
        return pooled.expand(-1, -1, x.shape[2], x.shape[3])


class Zero(nn.Module):
    """Cuts the path. The cell skips it entirely; it exists so the table is complete."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


OpFactory = Callable[[int, int], nn.Module]
"""(channels, separable repeats) -> module."""

OPS: dict[str, OpFactory] = {
    "conv1x1": lambda c, r: ConvBNReLU(c, c, 1),
    "conv3x3": lambda c, r: ConvBNReLU(c, c, 3),
    "sep3x3": lambda c, r: SepConv(c, 3, 1, r),
    "sep5x5": lambda c, r: SepConv(c, 5, 1, r),
    "gap": lambda c, r: GlobalPool(c),
    "conv3x3_r3": lambda c, r: ConvBNReLU(c, c, 3, dilation=3),
    "conv3x3_r12": lambda c, r: ConvBNReLU(c, c, 3, dilation=12),
    "sep3x3_r3": lambda c, r: SepConv(c, 3, 3, r),
    "sep5x5_r6": lambda c, r: SepConv(c, 5, 6, r),
    "skip": lambda c, r: nn.Identity(),
    "zero": lambda c, r: Zero(),
}
assert tuple(OPS) == OP_NAMES, "the ops table and the genotype's op list must agree"

ZERO = OP_NAMES.index("zero")


def make_op(op: int, channels: int, repeats: int) -> nn.Module:
    """The module for op index `op` (an index into `OP_NAMES`)."""
    return OPS[OP_NAMES[op]](channels, repeats)
