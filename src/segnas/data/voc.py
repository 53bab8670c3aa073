"""PASCAL VOC 2012 segmentation: ``JPEGImages/``, palette-PNG ``SegmentationClass/`` and the
id lists in ``ImageSets/Segmentation/{split}.txt``.

Point segnas at the ``VOC2012`` folder or any folder above it (``VOCdevkit`` or its parent).
"""

from __future__ import annotations

from pathlib import Path

from segnas.data.classes import make_palette
from segnas.data.paired import (
    Entry,
    PairedFileSource,
    drop_duplicates,
    drop_missing,
    read_id_list,
)
from segnas.data.source import DatasetError

VOC_CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
]  # fmt: skip
"""The 20 object classes plus background, in mask-id order."""

SPLITS_DIR = Path("ImageSets") / "Segmentation"


def find_voc_root(path: Path) -> Path:
    """The ``VOC2012`` folder at or below `path` (the layouts people actually unpack)."""
    for candidate in (path, path / "VOC2012", path / "VOCdevkit" / "VOC2012"):
        if (candidate / SPLITS_DIR).is_dir():
            return candidate
    raise DatasetError(
        f"voc:{path}: no {SPLITS_DIR} folder here or in VOC2012/ or VOCdevkit/VOC2012/; expected "
        "a VOC2012 folder holding JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/",
        path=str(path),
    )


def voc_split_ids(root: Path, split: str) -> tuple[list[str], Path]:
    """Ids of a VOC split and the list file they came from."""
    list_file = root / SPLITS_DIR / f"{split}.txt"
    if not list_file.is_file():
        available = sorted(p.stem for p in (root / SPLITS_DIR).glob("*.txt"))
        raise DatasetError(
            f"{list_file}: no such split list; available splits: {', '.join(available) or 'none'}",
            path=str(list_file),
        )
    return read_id_list(list_file), list_file


def voc_entry(root: Path, sample_id: str) -> Entry:
    return Entry(
        sample_id,
        root / "JPEGImages" / f"{sample_id}.jpg",
        root / "SegmentationClass" / f"{sample_id}.png",
    )


def open_voc(path: Path, split: str = "train") -> PairedFileSource:
    """A VOC 2012 segmentation split (``train`` 1,464, ``val`` 1,449, ``trainval`` images)."""
    root = find_voc_root(path)
    ids, list_file = voc_split_ids(root, split)
    entries, missing = drop_missing((voc_entry(root, i) for i in ids), list_file)
    entries, repeated = drop_duplicates(entries)
    return PairedFileSource(
        name="voc",
        split=split,
        root=root,
        entries=entries,
        class_names=list(VOC_CLASSES),
        palette=make_palette(len(VOC_CLASSES)),
        index_problems=missing + repeated,
    )
