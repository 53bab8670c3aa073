"""What every pose source shares: keypoint tables, flip pairs and the keypoint "class table".

A pose source's classes are its keypoints: the network predicts one heatmap per keypoint, so
`num_classes` is K, `class_names` the keypoint names and the palette colours them in previews.
Keypoint visibility follows COCO (0 not labelled, 1 hidden, 2 visible; see `Sample.keypoints`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segnas.data.classes import make_palette
from segnas.data.source import DatasetError, SegmentationSource

COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
"""The 17 COCO person keypoints, in the order of ``person_keypoints_*.json``."""
COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (3, 4),
    (5, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
)
# fmt: off
_COCO_SIGMAS_X10 = [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07,
                    0.87, 0.87, 0.89, 0.89]  # pycocotools' literals, divided by 10 as there
# fmt: on
COCO_SIGMAS: tuple[float, ...] = tuple((np.array(_COCO_SIGMAS_X10) / 10.0).tolist())
"""Per-keypoint OKS constants of the COCO keypoint evaluation (cocoapi ``kpt_oks_sigmas``),
computed as pycocotools does, so the floats are identical."""

MPII_KEYPOINT_NAMES: tuple[str, ...] = (
    "right_ankle",
    "right_knee",
    "right_hip",
    "left_hip",
    "left_knee",
    "left_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "right_wrist",
    "right_elbow",
    "right_shoulder",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
)
"""The 16 MPII joints, in MPII's joint-id order (the order of the HRNet/mmpose JSON)."""
MPII_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (0, 5),
    (1, 4),
    (2, 3),
    (10, 15),
    (11, 14),
    (12, 13),
)

BUILTIN_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (5, 6))
"""Flip pairs of the built-in keypoints (`KEYPOINT_NAMES`). Boxes and triangles turn at most 30
degrees, so "left"/"right" in their own frame is well defined, and a mirrored object is again
one the generator could draw (turned the other way): its top-left corner becomes its top-right,
its bottom-right its bottom-left, its left vertex its right. The apex and the disc centre have
no partner."""


COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
"""COCO's 19 limbs (the annotation file's `skeleton`, 0-based)."""
MPII_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
    (10, 11), (11, 12), (12, 8), (13, 8), (13, 14), (14, 15),
)  # fmt: skip
"""MPII's limbs: legs to the pelvis, spine to the head top, arms to the neck."""
BUILTIN_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 4),
)  # fmt: skip
"""The built-in scenes' outlines: the box's four sides and the triangle's three."""


def skeleton_for(count: int) -> tuple[tuple[int, int], ...]:
    """The limbs drawn for a keypoint set of `count` joints (COCO 17, MPII 16, built-in 8);
    none for other sets (points only)."""
    return {17: COCO_SKELETON, 16: MPII_SKELETON, 8: BUILTIN_SKELETON}.get(count, ())


def flip_pairs_from_names(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """(left, right) rows of names that differ only by a ``left``/``right`` prefix (``left_eye``
    / ``right_eye``, ``l_hip`` / ``r_hip``), for COCO-style files with their own keypoints."""
    position = {name: k for k, name in enumerate(names)}
    pairs = []
    for k, name in enumerate(names):
        for left, right in (("left_", "right_"), ("l_", "r_")):
            if name.startswith(left) and right + name[len(left) :] in position:
                pairs.append((k, position[right + name[len(left) :]]))
    return tuple(pairs)


def keypoint_palette(count: int) -> np.ndarray:
    """(count, 3) uint8 colours, one per keypoint (the VOC scheme without its black)."""
    return make_palette(count + 1)[1:].copy()


def check_pose_classes(num_classes: int | None, count: int, origin: str) -> None:
    """`--classes` of a pose dataset can only be its keypoint count; refuse anything else."""
    if num_classes not in (None, count):
        raise DatasetError(
            f"{origin}: --classes {num_classes} given for a pose dataset with {count} keypoints; "
            "leave --classes out",
            path=origin,
        )


class PoseSource(SegmentationSource):
    """Base of the pose sources: sets the keypoint class table from names and flip pairs."""

    task = "pose"
    background_index = None

    def set_keypoints(self, names: Sequence[str], flip_pairs: Sequence[tuple[int, int]]) -> None:
        """Keypoints become the classes: K outputs named and coloured after them."""
        self.keypoint_names = tuple(names)
        self.flip_pairs = tuple((int(a), int(b)) for a, b in flip_pairs)
        self.num_classes = len(self.keypoint_names)
        self.class_names = list(self.keypoint_names)
        self.palette = keypoint_palette(self.num_classes)
