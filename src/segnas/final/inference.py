"""The deployable runtime model: no auxiliary heads, batch norm folded, full-resolution logits.

What `segnas bench` measures and what applications should run. Every rewrite here is exact in
eval mode (equal up to float rounding): folding batch norm into the convolution before it only
rewrites weights, and a dilated convolution computed on interleaved sub-grids sums the same
products. The output is `net.for_inference()` followed by bilinear upsampling to the input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from segnas.space.builder import SegmentationNet
from segnas.space.ops import conv_like
from segnas.space.subgrids import from_subgrids, to_subgrids


def fold_batch_norms(module: nn.Module) -> int:
    """Fold every BatchNorm2d that directly follows a Conv2d in a Sequential; return the count.

    The module must be in eval mode (folding bakes in the running statistics). Folded batch
    norms become `nn.Identity`, so the indices and names of the other modules stay as they were.
    """
    if module.training:
        raise ValueError("fold_batch_norms: the module is in training mode; call .eval() first")
    folded = 0
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        names = list(child._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = child._modules[first], child._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                child._modules[first] = fuse_conv_bn_eval(conv, bn)
                child._modules[second] = nn.Identity()
                folded += 1
    return folded


class SpaceToBatchConv2d(nn.Conv2d):
    """A stride-1 'same' dilated convolution run as an undilated one on the d x d sub-grids.

    Output pixel (i, j) of a rate-d convolution only reads pixels congruent to (i, j) modulo d,
    so the map splits into d * d interleaved sub-grids that go through the same kernel without
    dilation, stacked along the batch. oneDNN's dilated depthwise kernels are slow on the CPU
    (5x5 rate 6 on a 64x64 map: 3.0 ms against 1.5 ms this way, one thread), which is where
    the searched decoders spend much of their time. Works in both memory formats and keeps
    the input's.
    """

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> SpaceToBatchConv2d:
        """The same weights as `conv`, which must be a stride-1 'same' dilated convolution."""
        kh, kw = conv.kernel_size
        dh, dw = conv.dilation
        same = conv.padding == (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
        if conv.stride != (1, 1) or dh != dw or kh % 2 == 0 or kw % 2 == 0 or not same:
            raise ValueError(
                f"SpaceToBatchConv2d: expected a stride-1 'same' convolution with one odd "
                f"kernel and one dilation, got {conv}"
            )
        return conv_like(cls, conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H, W)
        d = self.dilation[0]
        sub, shape = to_subgrids(x, d)  # (B d d, Cin, hs, ws)
        padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        y = F.conv2d(sub, self.weight, self.bias, 1, padding, 1, self.groups)
        return from_subgrids(y, d, shape)


def is_slow_dilated(module: nn.Module) -> bool:
    """Convolutions oneDNN runs slowly: depthwise, dilated, kernel 5 or more (measured)."""
    return (
        isinstance(module, nn.Conv2d)
        and not isinstance(module, SpaceToBatchConv2d)
        and module.dilation[0] > 1
        and module.groups == module.in_channels == module.out_channels
        and max(module.kernel_size) >= 5
    )


def replace_slow_dilated(module: nn.Module) -> int:
    """Swap every `is_slow_dilated` convolution for its `SpaceToBatchConv2d` twin; the count."""
    swapped = 0
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if is_slow_dilated(child):
                setattr(parent, name, SpaceToBatchConv2d.from_conv(child))
                swapped += 1
    return swapped


class PlainNet(nn.Module):
    """The unoptimised eval network with full-size logits: the baseline `InferenceNet` beats."""

    def __init__(self, net: SegmentationNet) -> None:
        super().__init__()
        self.net = net.for_inference()
        self.source_params = sum(p.numel() for p in self.net.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, K, H, W)
        logits = self.net(x)
        if self.net.output_stride == 1:  # a baseline: logits already at the input size
            return logits
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


class InferenceNet(nn.Module):
    """A segmentation network ready to deploy: (B, 3, H, W) image -> (B, K, H, W) logits.

    Built from a trained `SegmentationNet`, which is left untouched: a copy drops the auxiliary
    heads, goes to eval mode, has its batch norms folded and, optionally, its slow dilated
    convolutions rewritten and its weights stored channels-last. Logits come at the decoder's
    output stride and are upsampled bilinearly inside `forward`, so callers get one score per
    input pixel, as torchvision's segmentation models return them. With `channels_last` the
    output is a channels-last tensor too (same shape and values; `.contiguous()` if a later
    step needs NCHW strides): converting 21 maps of 512x512 back costs more than upsampling them.
    Use `inference_net` for the settings measured best on a device.
    """

    def __init__(
        self,
        net: SegmentationNet,
        fold_bn: bool = True,
        space_to_batch: bool = True,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.net = net.for_inference()
        self.source_params = sum(p.numel() for p in self.net.parameters())
        """Parameters before folding: the model's size as `segnas describe` counts it."""
        self.folded = fold_batch_norms(self.net) if fold_bn else 0
        self.rewritten = replace_slow_dilated(self.net) if space_to_batch else 0
        self.channels_last = channels_last
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.output_stride = self.net.output_stride
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, K, H, W)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = self.net(x)  # (B, K, H / stride, W / stride)
        if self.output_stride == 1:  # a baseline: logits already at the input size
            return logits
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def inference_net(net: SegmentationNet, device: torch.device | str = "cpu") -> InferenceNet:
    """The fastest exact runtime form of `net` on `device`, placed there.

    On the CPU every rewrite pays (measured at 512x512, see `benchmarks/inference_speed.py`):
    channels-last lets oneDNN skip a layout reorder around every convolution, and sub-grid
    dilated convolutions avoid its slow dilated depthwise kernels. Elsewhere only batch norm is
    folded: both rewrites answer oneDNN's weaknesses and have not been measured on CUDA.
    """
    device = torch.device(device)
    cpu = device.type == "cpu"
    return InferenceNet(net, fold_bn=True, space_to_batch=cpu, channels_last=cpu).to(device)
