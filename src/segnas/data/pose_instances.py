"""The shared base of the pose file formats: a list of person instances, each naming its image.

COCO and MPII readers differ only in how they parse their annotation file into
`PoseInstance`s; reading images, error locations and identity are the same for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segnas.data.io import read_image
from segnas.data.pose import PoseSource
from segnas.data.source import Problem, ProblemKind, Sample


@dataclass(frozen=True, eq=False)
class PoseInstance:
    """One annotated person, already in segnas conventions, before its image is read."""

    id: str
    image_id: str
    image: Path
    keypoints: np.ndarray
    """(K, 3) float32 (x, y, visibility), pixel (0, 0) spanning [0, 1)."""
    box: np.ndarray
    """(4,) float32 (x, y, w, h)."""
    area: float | None
    head_size: float | None
    where: str
    """The annotation's place in its file (``FILE#annotations[3]``), for error reports."""


class InstanceSource(PoseSource):
    """Pose samples built from `PoseInstance`s; the full image is read per instance."""

    def __init__(
        self,
        *,
        name: str,
        split: str,
        root: Path,
        annotation_file: Path,
        instances: list[PoseInstance],
        keypoint_names: Sequence[str],
        flip_pairs: Sequence[tuple[int, int]],
        index_problems: list[Problem],
    ) -> None:
        self.name = name
        self.split = split
        self.root = root
        self.annotation_file = annotation_file
        self.instances = instances
        self.ids = [instance.id for instance in instances]
        self.set_keypoints(keypoint_names, flip_pairs)
        empty = Problem(
            str(annotation_file), ProblemKind.EMPTY_SPLIT, f"split {split!r} has no instances"
        )
        self.index_problems = [*index_problems, *([] if instances else [empty])]

    def __getitem__(self, i: int) -> Sample:
        instance = self.instances[i]
        return Sample(
            instance.id,
            read_image(instance.image),
            None,
            keypoints=instance.keypoints,
            box=instance.box,
            area=instance.area,
            head_size=instance.head_size,
            image_id=instance.image_id,
        )

    def files(self, i: int) -> tuple[str, ...]:
        """The image, then the annotation's place in its file."""
        instance = self.instances[i]
        return (str(instance.image), instance.where)

    def describe(self) -> dict[str, Any]:
        return {
            "format": self.name,
            "path": str(self.root.resolve()),
            "annotations": str(self.annotation_file.resolve()),
            "split": self.split,
            "count": len(self.ids),
            "num_classes": self.num_classes,
            "task": "pose",
        }


def unique_ids(instances: list[PoseInstance], problems: list[Problem]) -> list[PoseInstance]:
    """Instances whose id no other instance has; each repeat becomes a problem (ids key splits
    and caches, so two instances may not share one)."""
    seen: dict[str, str] = {}
    kept = []
    for instance in instances:
        if instance.id in seen:
            message = f"id {instance.id} repeats (first at {seen[instance.id]}); entry dropped"
            problems.append(Problem(instance.where, ProblemKind.BAD_ANNOTATION, message))
            continue
        seen[instance.id] = instance.where
        kept.append(instance)
    return kept
