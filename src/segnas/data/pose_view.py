"""`PoseView`: the built-in scenes seen as a pose dataset, one "person" per scene.

Like `DepthView`, the view shares the segmentation source's cache instead of being a second
reader. Each scene is one instance whose 8 keypoints (`KEYPOINT_NAMES`) are the corners of its
first box, the vertices of its first triangle and the centre of its first disc; the instance's
box is the whole image and its area H x W. `open_dataset` opens the scenes with marked anchors
(`BuiltinSettings.marked_anchors`): the three keypoint carriers in fixed colours, the rest muted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from segnas.data.builtin import KEYPOINT_NAMES
from segnas.data.io import SampleError
from segnas.data.pose import BUILTIN_FLIP_PAIRS, PoseSource
from segnas.data.source import ProblemKind, Sample, SegmentationSource

HEAD_FRACTION = 0.1
"""The built-in instances' `head_size` as a fraction of the image diagonal. Scenes have no head,
so PCKh needs a stand-in unit: with 0.1, PCKh@0.5 accepts predictions within 5 % of the
diagonal (4.5 px at 64 x 64) and PCKh@0.1 within 1 %."""


def pose_keypoints(raw: np.ndarray, height: int, width: int) -> np.ndarray:
    """The generator's (x, y, seen) rows in COCO visibility: 2 where the point shows its object,
    1 where it lies in the image but is covered, 0 outside the image [0, W) x [0, H) or where no
    object was drawn (an all-zero row); coordinates are kept."""
    points = np.array(raw, dtype=np.float32).reshape(-1, 3)
    x, y, seen = points[:, 0], points[:, 1], points[:, 2]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    drawn = np.any(points != 0, axis=1)
    points[:, 2] = np.where(inside & drawn, np.where(seen > 0, 2.0, 1.0), 0.0)
    return points


class PoseView(PoseSource):
    """`source`'s scenes (masks and depth kept) as pose instances over `KEYPOINT_NAMES`."""

    def __init__(self, source: SegmentationSource) -> None:
        self.source = source
        self.name = source.name
        self.split = source.split
        self.ids = source.ids
        self.index_problems = source.index_problems
        self.set_keypoints(KEYPOINT_NAMES, BUILTIN_FLIP_PAIRS)

    def __getitem__(self, i: int) -> Sample:
        sample = self.source[i]
        if sample.keypoints is None:
            path = self.source.files(i)[0]
            raise SampleError(
                f"{path}: sample {sample.id!r} has no keypoints, which the pose task needs",
                path=path,
                kind=ProblemKind.BAD_KEYPOINTS,
            )
        height, width = sample.image.shape[:2]
        return Sample(
            sample.id,
            sample.image,
            sample.mask,
            depth=sample.depth,
            keypoints=pose_keypoints(sample.keypoints, height, width),
            box=np.array([0, 0, width, height], np.float32),
            area=float(height * width),
            head_size=HEAD_FRACTION * math.hypot(height, width),
            image_id=sample.id,
        )

    def files(self, i: int) -> tuple[str, ...]:
        return self.source.files(i)

    def describe(self) -> dict[str, Any]:
        """The inner identity plus the task, so pose and segmentation caches never mix."""
        return {**self.source.describe(), "task": "pose"}
