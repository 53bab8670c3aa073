"""`DepthView`: a source whose samples already carry depth, seen as a depth dataset.

The built-in scenes are rendered with depth; rather than a second reader, the depth task wraps
the same source and swaps the class table, so both tasks share one cache of arrays.
"""

from __future__ import annotations

from typing import Any

from segnas.data.depth import DEPTH_CLASS_NAMES, DEPTH_PALETTE
from segnas.data.io import SampleError
from segnas.data.source import ProblemKind, Sample, SegmentationSource


class DepthView(SegmentationSource):
    """`source`'s samples (masks kept, depth required) with the one-output depth class table."""

    task = "depth"

    def __init__(self, source: SegmentationSource) -> None:
        self.source = source
        self.name = source.name
        self.split = source.split
        self.ids = source.ids
        self.num_classes = 1
        self.class_names = list(DEPTH_CLASS_NAMES)
        self.palette = DEPTH_PALETTE.copy()
        self.background_index = None
        self.index_problems = source.index_problems

    def __getitem__(self, i: int) -> Sample:
        sample = self.source[i]
        if sample.depth is None:
            path = self.source.files(i)[0]
            raise SampleError(
                f"{path}: sample {sample.id!r} has no depth, which the depth task needs",
                path=path,
                kind=ProblemKind.BAD_DEPTH,
            )
        return sample

    def files(self, i: int) -> tuple[str, ...]:
        return self.source.files(i)

    def describe(self) -> dict[str, Any]:
        """The inner identity plus the task, so depth and segmentation caches never mix."""
        return {**self.source.describe(), "task": "depth"}
