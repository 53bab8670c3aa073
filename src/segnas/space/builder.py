"""The one builder: genotype + encoder tap description -> network.

Search-time and final models differ only in `DecoderSettings` (channels, repeats, aux mode).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from segnas.encoders import Encoder, WeightsSpec, build_encoder
from segnas.genotype import Genotype
from segnas.settings_io import require
from segnas.space.decoder import AUX_MODES, AuxMode, Decoder, DecoderOutput


@dataclass(frozen=True)
class DecoderSettings:
    """Decoder settings; the defaults are the search-time ones (final training: 64, 2, cell)."""

    channels: int = 48
    """Width C of every adapter, cell and block (48 in search, 64 for final models)."""
    repeats: int = 1
    """Repeats R of each separable convolution (1 in search, 2 for final models)."""
    aux_mode: AuxMode = "cell"
    """Auxiliary heads on block outputs: `cell` (paper), `plain` (classifier only) or `none`."""

    def __post_init__(self) -> None:
        require(self.channels >= 1, "channels", self.channels, ">= 1")
        require(self.repeats >= 1, "repeats", self.repeats, ">= 1")
        require(self.aux_mode in AUX_MODES, "aux_mode", self.aux_mode, f"one of {AUX_MODES}")


SEARCH_DECODER = DecoderSettings()


class SegmentationNet(nn.Module):
    """Encoder -> decoder. Logits come at the decoder's output stride; upsample for full size."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.taps_needed = max(decoder.used_taps) + 1

    @property
    def output_stride(self) -> int:
        return self.decoder.output_stride

    @property
    def num_classes(self) -> int:
        return self.decoder.head.classifier.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor | DecoderOutput:
        # (B, 3, H, W) -> (B, classes, H / stride, W / stride) [+ aux maps in training]
        return self.decoder(self.encoder(x, self.taps_needed))

    def for_inference(self) -> SegmentationNet:
        """A copy in eval mode with the auxiliary heads removed (what is measured and exported)."""
        net = copy.deepcopy(self)
        net.decoder.drop_aux()
        return net.eval()


def build_decoder(
    genotype: Genotype, encoder: Encoder, num_classes: int, config: DecoderSettings = SEARCH_DECODER
) -> Decoder:
    """A decoder sized from the encoder's taps."""
    return Decoder(
        genotype,
        encoder.taps.channels,
        encoder.taps.strides,
        num_classes,
        channels=config.channels,
        repeats=config.repeats,
        aux_mode=config.aux_mode,
    )


def build_network(
    genotype: Genotype,
    num_classes: int,
    config: DecoderSettings = SEARCH_DECODER,
    encoder: str | Encoder = "mobilenet_v2",
    weights: WeightsSpec = "imagenet",
) -> SegmentationNet:
    """The network for `genotype`; pass an `Encoder` instance to share or reuse one."""
    if num_classes < 1:
        raise ValueError(f"num_classes: got {num_classes}, expected >= 1")
    enc = build_encoder(encoder, weights) if isinstance(encoder, str) else encoder
    return SegmentationNet(enc, build_decoder(genotype, enc, num_classes, config))
