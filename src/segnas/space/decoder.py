"""Adapters, decoder blocks, head and auxiliary heads, sized from the encoder's tap description."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from segnas.genotype import Genotype
from segnas.space.cell import Cell
from segnas.space.ops import ConvBNReLU

AuxMode = Literal["cell", "plain", "none"]
AUX_MODES: tuple[str, ...] = ("cell", "plain", "none")


class DecoderOutput(NamedTuple):
    """What a network returns in training mode: main logits and one map per auxiliary head."""

    out: torch.Tensor
    aux: list[torch.Tensor]


def split_output(output: object) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(main logits, auxiliary maps) of a network's output, whatever its mode or kind.

    A segnas network returns a tensor in eval mode or without auxiliary heads, and a
    `DecoderOutput` in training mode with them; torchvision's segmentation models (teachers,
    baselines) return a dict with `out` and optionally `aux`; other models a tuple whose first
    entry is the main logits. Every caller goes through here instead of testing the type itself.
    """
    if isinstance(output, torch.Tensor):
        return output, []
    if isinstance(output, DecoderOutput):
        return output.out, list(output.aux)
    if isinstance(output, Mapping):
        if "out" not in output:
            raise TypeError(f"network output: a dict without 'out' (keys {sorted(output)})")
        return output["out"], [output["aux"]] if "aux" in output else []
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0], list(output[1:])
    raise TypeError(
        f"network output: got {type(output).__name__}, expected a tensor, a DecoderOutput, "
        "a dict with 'out' or a tuple of tensors"
    )


def main_logits(output: object) -> torch.Tensor:
    """The main logits (B, K, h, w) of a network's output (see `split_output`)."""
    return split_output(output)[0]


def resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling of `x` to the spatial size of `like` (no-op when equal)."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class Block(nn.Module):
    """cell(a) -> 1x1 and cell(b) -> 1x1, the coarser map upsampled to the finer, summed."""

    def __init__(self, genotype: Genotype, channels: int, repeats: int, coarser_first: bool):
        super().__init__()
        self.cells = nn.ModuleList(Cell(genotype, channels, repeats) for _ in range(2))
        self.projs = nn.ModuleList(ConvBNReLU(channels, channels, 1) for _ in range(2))
        self.coarser_first = coarser_first

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ya = self.projs[0](self.cells[0](a))
        yb = self.projs[1](self.cells[1](b))
        if self.coarser_first:
            return resize_to(ya, yb) + yb
        return ya + resize_to(yb, ya)


class Head(nn.Module):
    """concat(unpicked block outputs) - ReLU - 1x1 conv-BN-ReLU - 3x3 conv with bias to classes."""

    def __init__(self, num_inputs: int, channels: int, num_classes: int) -> None:
        super().__init__()
        self.reduce = ConvBNReLU(num_inputs * channels, channels, 1)
        self.classifier = nn.Conv2d(channels, num_classes, 3, padding=1)

    def forward(self, features: list[torch.Tensor], finest: int) -> torch.Tensor:
        target = features[finest]
        x = torch.cat([resize_to(f, target) for f in features], dim=1)
        return self.classifier(self.reduce(F.relu(x)))


class AuxHead(nn.Module):
    """Intermediate supervision of one block output: own cell (mode `cell`), 3x3 classifier."""

    def __init__(
        self, genotype: Genotype, channels: int, repeats: int, num_classes: int, mode: AuxMode
    ) -> None:
        super().__init__()
        self.cell = Cell(genotype, channels, repeats) if mode == "cell" else nn.Identity()
        self.classifier = nn.Conv2d(channels, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.cell(x))


class Decoder(nn.Module):
    """The searched decoder: maps the encoder taps (finest first) to class logits.

    Modules for taps no block reads are not built. In training mode with auxiliary heads it
    returns `DecoderOutput(out, aux)`; otherwise only the main logits.
    """

    def __init__(
        self,
        genotype: Genotype,
        tap_channels: Sequence[int],
        tap_strides: Sequence[int],
        num_classes: int,
        channels: int = 48,
        repeats: int = 1,
        aux_mode: AuxMode = "cell",
    ) -> None:
        super().__init__()
        if aux_mode not in AUX_MODES:
            raise ValueError(f"aux_mode: got {aux_mode!r}, expected one of {AUX_MODES}")
        num_taps = len(tap_channels)
        self.genotype = genotype
        self.num_taps = num_taps
        self.used_taps = sorted({i for pair in genotype.connectivity for i in pair if i < num_taps})
        self.adapters = nn.ModuleDict(
            {str(i): ConvBNReLU(tap_channels[i], channels, 1) for i in self.used_taps}
        )
        strides = list(tap_strides)
        blocks = []
        for a, b in genotype.connectivity:
            blocks.append(Block(genotype, channels, repeats, coarser_first=strides[a] > strides[b]))
            strides.append(min(strides[a], strides[b]))
        self.blocks = nn.ModuleList(blocks)
        self.pool_strides = strides
        self.head_inputs = genotype.head_inputs(num_taps)
        head_strides = [strides[i] for i in self.head_inputs]
        self.finest_head_input = head_strides.index(min(head_strides))
        self.output_stride = min(head_strides)
        self.head = Head(len(self.head_inputs), channels, num_classes)
        self.aux_mode = aux_mode
        self.aux_heads = nn.ModuleList(
            []
            if aux_mode == "none"
            else [
                AuxHead(genotype, channels, repeats, num_classes, aux_mode)
                for _ in genotype.connectivity
            ]
        )

    def forward(self, taps: Sequence[torch.Tensor]) -> torch.Tensor | DecoderOutput:
        # Encoders may stop early (taps after the deepest used one are never computed).
        pool: list[torch.Tensor | None] = [
            self.adapters[str(i)](taps[i]) if str(i) in self.adapters else None
            for i in range(self.num_taps)
        ]
        for block, (a, b) in zip(self.blocks, self.genotype.connectivity):
            pool.append(block(pool[a], pool[b]))
        out = self.head([pool[i] for i in self.head_inputs], self.finest_head_input)
        if not self.training or not len(self.aux_heads):
            return out
        aux = [h(pool[self.num_taps + k]) for k, h in enumerate(self.aux_heads)]
        return DecoderOutput(out, aux)

    def drop_aux(self) -> None:
        """Remove the auxiliary heads for good (inference, export, cost figures)."""
        self.aux_heads = nn.ModuleList()
        self.aux_mode = "none"
