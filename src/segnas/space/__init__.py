"""The decoder search space as modules: ops table, cell, blocks, head, auxiliary cells, builder."""

from segnas.space.builder import AuxMode, DecoderSettings, SegmentationNet, build_network
from segnas.space.decoder import Decoder
from segnas.space.ops import OPS, make_op

__all__ = [
    "OPS",
    "AuxMode",
    "Decoder",
    "DecoderSettings",
    "SegmentationNet",
    "build_network",
    "make_op",
]
