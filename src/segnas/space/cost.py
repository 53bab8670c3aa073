"""Parameter and multiply-add counts per part of a network (auxiliary heads excluded)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from segnas.space.builder import SegmentationNet

PARTS = ("encoder", "adapters", "blocks", "head")
_PREFIXES = {
    "encoder": "encoder.",
    "adapters": "decoder.adapters.",
    "blocks": "decoder.blocks.",
    "head": "decoder.head.",
}


@dataclass(frozen=True)
class Cost:
    """Figures at one input size, in the paper's units (Table 1 counts conv and linear madds)."""

    params: int
    madds: int
    params_by_part: dict[str, int]
    madds_by_part: dict[str, int]
    output_stride: int
    output_size: tuple[int, int]

    def to_dict(self) -> dict:
        return asdict(self)


def layer_madds(layer: nn.Module, output: torch.Tensor) -> int:
    """Multiply-adds of one conv or linear layer that produced `output` (the paper's count:
    one per weight a produced value reads; batch norm, activations and resizing are free)."""
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        return output.numel() * (layer.in_channels // layer.groups) * kh * kw
    if isinstance(layer, nn.Linear):
        return output.numel() * layer.in_features
    raise TypeError(f"layer_madds: expected nn.Conv2d or nn.Linear, got {type(layer).__name__}")


def _part_of(name: str) -> str:
    for part, prefix in _PREFIXES.items():
        if name.startswith(prefix):
            return part
    raise ValueError(f"parameter {name!r} belongs to no known part")


def measure_cost(net: SegmentationNet, size: tuple[int, int] = (512, 512)) -> Cost:
    """Count parameters and conv/linear multiply-adds of one forward pass at `size`, batch 1."""
    net = net.for_inference()
    params = dict.fromkeys(PARTS, 0)
    for name, p in net.named_parameters():
        params[_part_of(name)] += p.numel()
    madds = dict.fromkeys(PARTS, 0)

    def hook(name: str):
        def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            madds[_part_of(name + ".")] += layer_madds(module, output)

        return count

    handles = [
        m.register_forward_hook(hook(n))
        for n, m in net.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            device = next(net.parameters()).device
            out = net(torch.zeros(1, 3, *size, device=device))
    finally:
        for h in handles:
            h.remove()
    return Cost(
        params=sum(params.values()),
        madds=sum(madds.values()),
        params_by_part=params,
        madds_by_part=madds,
        output_stride=net.output_stride,
        output_size=(int(out.shape[2]), int(out.shape[3])),
    )
