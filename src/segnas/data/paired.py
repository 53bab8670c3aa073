"""The shared base of every on-disk format: a list of (id, image file, mask file) entries.

Readers only build the entry list (and report what they could not pair); reading, error
reporting and identity are the same for all of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segnas.data.io import read_image, read_mask
from segnas.data.source import Problem, ProblemKind, Sample, SegmentationSource, check_class_table


@dataclass(frozen=True)
class Entry:
    """One sample's files, before anything is read."""

    id: str
    image: Path
    mask: Path


class PairedFileSource(SegmentationSource):
    """Samples read from image/mask file pairs; subclasses may remap mask values."""

    def __init__(
        self,
        *,
        name: str,
        split: str,
        root: Path,
        entries: list[Entry],
        class_names: list[str],
        palette: np.ndarray,
        index_problems: list[Problem],
        background_index: int | None = 0,
        identity: dict[str, Any] | None = None,
    ) -> None:
        check_class_table(class_names, palette, f"{name}:{root}")
        self.name = name
        self.split = split
        self.root = root
        self.entries = entries
        self.ids = [entry.id for entry in entries]
        self.class_names = class_names
        self.num_classes = len(class_names)
        self.palette = palette
        self.background_index = background_index
        self.identity = dict(identity or {})
        empty = Problem(str(root), ProblemKind.EMPTY_SPLIT, f"split {split!r} has no samples")
        self.index_problems = [*index_problems, *([] if entries else [empty])]

    def read_mask(self, path: Path) -> np.ndarray:
        """Class ids of one mask file; Cityscapes overrides this to map label ids."""
        return read_mask(path)

    def __getitem__(self, i: int) -> Sample:
        entry = self.entries[i]
        return Sample(entry.id, read_image(entry.image), self.read_mask(entry.mask))

    def files(self, i: int) -> tuple[str, ...]:
        entry = self.entries[i]
        return (str(entry.image), str(entry.mask))

    def describe(self) -> dict[str, Any]:
        return {
            "format": self.name,
            "path": str(self.root.resolve()),  # the same data from any working directory
            "split": self.split,
            "count": len(self.entries),
            "num_classes": self.num_classes,
            **self.identity,
        }


def drop_duplicates(entries: Iterable[Entry]) -> tuple[list[Entry], list[Problem]]:
    """Entries whose id is unique, and a problem for each file of every repeated id.

    Keeping the first of two same-stem files would train on whichever the file system lists
    first; dropping both and saying so is the only choice that does not depend on luck.
    """
    entries = list(entries)
    counts = Counter(entry.id for entry in entries)
    kept = [entry for entry in entries if counts[entry.id] == 1]
    problems = [
        Problem(
            str(entry.image),
            ProblemKind.DUPLICATE_STEM,
            f"sample id {entry.id!r} appears {counts[entry.id]} times; keep one",
        )
        for entry in entries
        if counts[entry.id] > 1
    ]
    return kept, problems


def drop_missing(entries: Iterable[Entry], listed_in: Path) -> tuple[list[Entry], list[Problem]]:
    """Entries whose image and mask both exist; a `missing_file` problem for each absent file."""
    kept: list[Entry] = []
    problems: list[Problem] = []
    for entry in entries:
        absent = [path for path in (entry.image, entry.mask) if not path.is_file()]
        problems += [
            Problem(
                str(path),
                ProblemKind.MISSING_FILE,
                f"sample {entry.id!r} listed in {listed_in} but this file does not exist",
            )
            for path in absent
        ]
        if not absent:
            kept.append(entry)
    return kept, problems


def read_id_list(path: Path) -> list[str]:
    """Ids from a split file (one per line; VOC and SBD style), blank lines skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split()[0] for line in lines if line.strip()]
