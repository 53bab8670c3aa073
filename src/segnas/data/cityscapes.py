"""Cityscapes fine annotations: ``leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png``
with ``gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png``.

Masks hold the 34 raw label ids; training uses the 19 evaluated classes (the benchmark's train
ids), and every other label becomes 255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segnas.data.paired import Entry, PairedFileSource
from segnas.data.source import IGNORE_INDEX, DatasetError, Problem, ProblemKind

TRAIN_CLASSES: list[tuple[int, str, tuple[int, int, int]]] = [
    (7, "road", (128, 64, 128)),
    (8, "sidewalk", (244, 35, 232)),
    (11, "building", (70, 70, 70)),
    (12, "wall", (102, 102, 156)),
    (13, "fence", (190, 153, 153)),
    (17, "pole", (153, 153, 153)),
    (19, "traffic light", (250, 170, 30)),
    (20, "traffic sign", (220, 220, 0)),
    (21, "vegetation", (107, 142, 35)),
    (22, "terrain", (152, 251, 152)),
    (23, "sky", (70, 130, 180)),
    (24, "person", (220, 20, 60)),
    (25, "rider", (255, 0, 0)),
    (26, "car", (0, 0, 142)),
    (27, "truck", (0, 0, 70)),
    (28, "bus", (0, 60, 100)),
    (31, "train", (0, 80, 100)),
    (32, "motorcycle", (0, 0, 230)),
    (33, "bicycle", (119, 11, 32)),
]
"""(label id, name, colour) of the 19 evaluated classes; train id = position in this list."""

LABEL_TO_TRAIN = np.full(256, IGNORE_INDEX, dtype=np.uint8)
for _train_id, (_label_id, _, _) in enumerate(TRAIN_CLASSES):
    LABEL_TO_TRAIN[_label_id] = _train_id
LABEL_TO_TRAIN.setflags(write=False)
"""Lookup table from labelIds values to train ids (255 for void and unevaluated classes)."""

IMAGE_SUFFIX = "_leftImg8bit.png"
MASK_SUFFIX = "_gtFine_labelIds.png"


class CityscapesSource(PairedFileSource):
    """Cityscapes with label ids mapped to the 19 train ids on read."""

    def read_mask(self, path: Path) -> np.ndarray:
        return LABEL_TO_TRAIN[super().read_mask(path)]


def find_cityscapes_root(path: Path) -> Path:
    if (path / "leftImg8bit").is_dir() and (path / "gtFine").is_dir():
        return path
    raise DatasetError(
        f"cityscapes:{path}: expected the folders {path / 'leftImg8bit'} and {path / 'gtFine'}",
        path=str(path),
    )


def open_cityscapes(path: Path, split: str = "train") -> CityscapesSource:
    """One Cityscapes split (``train`` 2,975, ``val`` 500, ``test`` 1,525 images)."""
    root = find_cityscapes_root(path)
    image_dir, mask_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    if not image_dir.is_dir():
        available = sorted(p.name for p in (root / "leftImg8bit").iterdir() if p.is_dir())
        raise DatasetError(
            f"{image_dir}: no such split folder; available: {', '.join(available) or 'none'}",
            path=str(image_dir),
        )
    images = {p.name[: -len(IMAGE_SUFFIX)]: p for p in sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}"))}
    masks = {p.name[: -len(MASK_SUFFIX)]: p for p in sorted(mask_dir.glob(f"*/*{MASK_SUFFIX}"))}
    entries = [Entry(i, images[i], masks[i]) for i in sorted(images) if i in masks]
    problems = [
        Problem(str(images[i]), ProblemKind.MISSING_PARTNER, f"no mask {i}{MASK_SUFFIX} in gtFine")
        for i in sorted(images)
        if i not in masks
    ] + [
        Problem(str(masks[i]), ProblemKind.MISSING_PARTNER, f"no image {i}{IMAGE_SUFFIX}")
        for i in sorted(masks)
        if i not in images
    ]
    return CityscapesSource(
        name="cityscapes",
        split=split,
        root=root,
        entries=entries,
        class_names=[name for _, name, _ in TRAIN_CLASSES],
        palette=np.array([colour for _, _, colour in TRAIN_CLASSES], dtype=np.uint8),
        index_problems=problems,
        background_index=None,
    )
