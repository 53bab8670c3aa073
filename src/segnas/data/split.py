"""Meta-train / meta-val split of a training set, and id-based subsets of a source.

The split depends on the seed and the set of ids, not on the order a reader lists them, so it
survives re-indexing a folder; it is saved as JSON id lists next to a search run.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnas.data.source import DatasetError, Sample, SegmentationSource
from segnas.run_dir import atomic_write_json

SPLIT_FORMAT = 1


def meta_split(
    ids: Sequence[str], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """(meta-train ids, meta-val ids), each in the input order; at least one of each."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction: got {val_fraction}, expected a number in (0, 1)")
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        raise DatasetError(f"meta_split: ids repeat ({', '.join(sorted(repeated)[:5])})")
    if len(ids) < 2:
        raise DatasetError(f"meta_split: got {len(ids)} samples, need at least 2 to split")
    n_val = min(max(1, round(len(ids) * val_fraction)), len(ids) - 1)
    order = np.random.default_rng([seed, 0x5EA]).permutation(len(ids))
    chosen = set(np.array(sorted(ids))[order[:n_val]].tolist())
    return [i for i in ids if i not in chosen], [i for i in ids if i in chosen]


def save_split(path: Path, train_ids: Sequence[str], val_ids: Sequence[str]) -> None:
    """Write the split as JSON (``{"format": 1, "train": [...], "val": [...]}``)."""
    payload = {"format": SPLIT_FORMAT, "train": list(train_ids), "val": list(val_ids)}
    atomic_write_json(Path(path), payload, indent=1)


def load_split(path: Path) -> tuple[list[str], list[str]]:
    """Read a split written by `save_split`; errors name the file and the bad field."""
    try:
        payload: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read split ({err})", path=str(path)) from err
    if not isinstance(payload, dict) or payload.get("format") != SPLIT_FORMAT:
        raise DatasetError(
            f"{path}: expected a JSON object with format {SPLIT_FORMAT}", path=str(path)
        )
    lists = []
    for field in ("train", "val"):
        value = payload.get(field)
        if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
            raise DatasetError(
                f"{path}: field {field!r} must be a list of id strings", path=str(path)
            )
        lists.append(value)
    overlap = set(lists[0]) & set(lists[1])
    if overlap:
        raise DatasetError(
            f"{path}: {len(overlap)} ids in both train and val (e.g. {sorted(overlap)[0]!r})",
            path=str(path),
        )
    return lists[0], lists[1]


class SubsetSource(SegmentationSource):
    """The samples of `parent` with the given ids, in that order; the class table is shared."""

    def __init__(self, parent: SegmentationSource, ids: Sequence[str]) -> None:
        position = {sample_id: i for i, sample_id in enumerate(parent.ids)}
        unknown = [i for i in ids if i not in position]
        if unknown:
            raise DatasetError(
                f"{parent.name}:{parent.split}: {len(unknown)} ids not in the dataset "
                f"(first: {', '.join(map(repr, unknown[:3]))})"
            )
        self.parent = parent
        self.indices = [position[i] for i in ids]
        self.ids = list(ids)
        self.name = parent.name
        self.task = parent.task
        self.split = parent.split
        self.num_classes = parent.num_classes
        self.class_names = parent.class_names
        self.palette = parent.palette
        self.ignore_index = parent.ignore_index
        self.background_index = parent.background_index
        self.keypoint_names = parent.keypoint_names
        self.flip_pairs = parent.flip_pairs

    def __getitem__(self, i: int) -> Sample:
        return self.parent[self.indices[i]]

    def files(self, i: int) -> tuple[str, ...]:
        return self.parent.files(self.indices[i])

    def describe(self) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(self.ids).encode()).hexdigest()[:16]
        return {**self.parent.describe(), "count": len(self.ids), "subset": digest}


def subset(source: SegmentationSource, ids: Sequence[str]) -> SubsetSource:
    """A view of `source` restricted to `ids` (meta-train, meta-val, or the clean samples)."""
    return SubsetSource(source, ids)
