"""The decoder search space as modules: ops table, cell, blocks, head, auxiliary cells, builder."""

from segnas.space.builder import AuxMode, DecoderSettings, SegmentationNet, build_network
from segnas.space.decoder import Decoder, DecoderOutput, main_logits, split_output
from segnas.space.ops import OPS, make_op

__all__ = [
    "OPS",
    "AuxMode",
    "Decoder",
    "DecoderOutput",
    "DecoderSettings",
    "SegmentationNet",
    "build_network",
    "main_logits",
    "make_op",
    "split_output",
]
