"""The one sample type and the source interface every dataset format implements.

Readers differ in layout only; everything after them (transforms, checks, caches, training) sees
`Sample`s from a `SegmentationSource`, so a new format is one small module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

IGNORE_INDEX = 255
"""Mask value that losses and metrics skip (object boundaries, unlabelled or ambiguous pixels)."""


class DatasetError(ValueError):
    """A dataset that cannot be used as given; the message names the file or field and the fix.

    `path` and `kind` (one of `ProblemKind`'s values) let `check_dataset` turn it into a
    `Problem`; both are optional so that the error survives pickling out of DataLoader workers.
    """

    def __init__(self, message: str, *, path: str | None = None, kind: str = "unusable") -> None:
        super().__init__(message)
        self.path = path
        self.kind = kind


class ProblemKind:
    """The kinds of problem `segnas data check` reports; each is an error."""

    UNUSABLE = "unusable"
    """The dataset cannot be opened at all (missing folder, missing split list, bad spec)."""
    UNREADABLE = "unreadable"
    """A file exists but is not an image / annotation the reader understands."""
    TRUNCATED = "truncated"
    """An image file that ends early (an interrupted download or copy)."""
    SIZE_MISMATCH = "size_mismatch"
    """Image and mask differ in height or width."""
    LABEL_OUT_OF_RANGE = "label_out_of_range"
    """Mask values >= num_classes that are not the ignore value."""
    BAD_MASK = "bad_mask"
    """A mask that is not single-channel class ids (an RGB colour mask, for instance)."""
    MISSING_PARTNER = "missing_partner"
    """An image without its mask or a mask without its image."""
    MISSING_FILE = "missing_file"
    """A file named by a split or list file that does not exist."""
    DUPLICATE_STEM = "duplicate_stem"
    """Two files that would give the same sample id (``a.png`` and ``a.jpg``)."""
    BAD_LINE = "bad_line"
    """A list-file line that is not ``image<TAB>mask``."""
    EMPTY_SPLIT = "empty_split"
    """A split with no samples."""
    BAD_DEPTH = "bad_depth"
    """A depth file that is not one channel of metres (float) or millimetres (16-bit), or that
    holds infinite or negative values, which no loss can learn from."""
    BAD_ANNOTATION = "bad_annotation"
    """A pose annotation entry (COCO annotation, MPII record) with a missing or malformed field;
    the entry is dropped and named by its position and id."""
    BAD_KEYPOINTS = "bad_keypoints"
    """Keypoints of the wrong shape, a labelled keypoint with non-finite coordinates, or a
    visibility that is not 0, 1 or 2 (NaN included)."""
    KEYPOINT_OUTSIDE = "keypoint_outside"
    """A labelled keypoint (visibility > 0) outside the image."""
    BAD_BOX = "bad_box"
    """A person box of zero or negative width or height, or with non-finite values."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset, tied to the file that shows it."""

    path: str
    """The offending file (``FILE:LINE`` for list-file lines, ``builtin:split#id`` if generated)."""
    kind: str
    """One of the `ProblemKind` values."""
    message: str
    """What is wrong and what was expected."""
    sample_id: str | None = None
    """The sample this problem makes unusable, when it is one of the source's ids."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "message": self.message,
            "sample_id": self.sample_id,
        }


@dataclass(frozen=True, eq=False)
class Sample:
    """One annotated image. Arrays are read-only views where the source allows it.

    Which targets are set depends on the source's `task`: segmentation sources always fill
    `mask`; depth sources always fill `depth` and may leave `mask` None; pose sources yield one
    sample per person instance (the full image, `keypoints`, and `box`, `area`, `head_size`,
    `image_id` where the format has them).
    """

    id: str
    """Unique within its source; split files and caches are keyed by it."""
    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    mask: np.ndarray | None
    """(H, W) uint8 class ids, `IGNORE_INDEX` where unlabelled; None for depth-only formats."""
    depth: np.ndarray | None = None
    """(H, W) float32 metres, 0 or NaN where missing; only sources that have depth fill it."""
    keypoints: np.ndarray | None = None
    """(K, 3) float32 rows (x, y, visibility) in pixel units, pixel (0, 0) spanning [0, 1).

    Visibility follows COCO: 0 = not labelled (x, y mean nothing), 1 = labelled but hidden,
    2 = labelled and visible; losses and metrics use every keypoint with visibility > 0."""
    box: np.ndarray | None = None
    """(4,) float32 (x, y, w, h) of the person in image pixels (pose); None = the whole image."""
    area: float | None = None
    """The instance's segment area in pixels, the scale of COCO's OKS; None where unknown."""
    head_size: float | None = None
    """PCKh's unit length: 0.6 x the head box diagonal (MPII's SC_BIAS); None where unknown."""
    image_id: str | None = None
    """The image a pose instance belongs to (COCO evaluation groups instances by image)."""


class SegmentationSource:
    """An indexable, picklable collection of `Sample`s with its class table.

    Subclasses set the attributes in their constructor and implement `__getitem__`; problems
    found while indexing (files without partners, duplicate ids, an empty split) go into
    `index_problems` instead of raising, so that `segnas data check` can list them all.
    """

    name: str
    """Short format name, e.g. ``voc`` or ``builtin``."""
    task: str = "segmentation"
    """Which task's targets its samples carry: ``segmentation`` (masks), ``depth`` or ``pose``."""
    split: str
    """Which part of the dataset, e.g. ``train`` or ``val``."""
    num_classes: int
    class_names: list[str]
    palette: np.ndarray
    """(num_classes, 3) uint8 colours for previews and predictions."""
    ids: list[str]
    ignore_index: int = IGNORE_INDEX
    background_index: int | None = 0
    """The class the search reward leaves out; None for formats without a background class."""
    index_problems: Sequence[Problem] = ()
    """Problems found while indexing, for entries that could not become samples."""
    keypoint_names: tuple[str, ...] = ()
    """Pose sources: the K keypoint names, in `Sample.keypoints` row order."""
    flip_pairs: tuple[tuple[int, int], ...] = ()
    """Pose sources: (left, right) keypoint rows that a horizontal flip swaps."""

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Sample:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def files(self, i: int) -> tuple[str, ...]:
        """The files sample `i` is read from, for error reports (image first)."""
        return (f"{self.name}:{self.split}#{self.ids[i]}",)

    def describe(self) -> dict[str, Any]:
        """A small JSON-able identity (format, path, split, count...) for cache keys and logs."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


def check_class_table(names: list[str], palette: np.ndarray, origin: str) -> None:
    """Fail early on a class table that would break masks, previews or the loss."""
    if not 1 <= len(names) <= IGNORE_INDEX:
        raise DatasetError(
            f"{origin}: got {len(names)} classes, expected 1 to {IGNORE_INDEX}", path=origin
        )
    if palette.shape != (len(names), 3) or palette.dtype != np.uint8:
        raise DatasetError(
            f"{origin}: palette has shape {palette.shape} {palette.dtype}, "
            f"expected ({len(names)}, 3) uint8",
            path=origin,
        )
