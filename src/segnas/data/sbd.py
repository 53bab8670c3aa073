"""Semantic Boundaries Dataset (Hariharan et al.): ``img/*.jpg``, ``cls/*.mat`` (struct
``GTcls``, field ``Segmentation``) and ``train.txt`` / ``val.txt``; and VOC ``train_aug``.

``train_aug`` is the usual 10,582-image training set: VOC train plus all of SBD, minus every VOC
val image. Where an image has a VOC mask it is used (finer, with 255 boundaries), else SBD's.
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
from segnas.data.source import DatasetError, Problem
from segnas.data.voc import VOC_CLASSES, find_voc_root, voc_entry, voc_split_ids


def find_sbd_root(path: Path) -> Path:
    """The SBD ``dataset`` folder at or below `path` (``benchmark_RELEASE/dataset``)."""
    for candidate in (path, path / "dataset", path / "benchmark_RELEASE" / "dataset"):
        if (candidate / "cls").is_dir():
            return candidate
    raise DatasetError(
        f"sbd:{path}: no cls/ folder here or in dataset/ or benchmark_RELEASE/dataset/; expected "
        "SBD's dataset folder holding img/, cls/, train.txt and val.txt",
        path=str(path),
    )


def sbd_split_ids(root: Path, split: str) -> tuple[list[str], Path]:
    list_file = root / f"{split}.txt"
    if not list_file.is_file():
        raise DatasetError(
            f"{list_file}: no such SBD split list; expected train.txt or val.txt",
            path=str(list_file),
        )
    return read_id_list(list_file), list_file


def sbd_entry(root: Path, sample_id: str) -> Entry:
    return Entry(sample_id, root / "img" / f"{sample_id}.jpg", root / "cls" / f"{sample_id}.mat")


def _voc_class_source(
    name: str,
    split: str,
    root: Path,
    entries: list[Entry],
    problems: list[Problem],
    **identity: str,
) -> PairedFileSource:
    return PairedFileSource(
        name=name,
        split=split,
        root=root,
        entries=entries,
        class_names=list(VOC_CLASSES),
        palette=make_palette(len(VOC_CLASSES)),
        index_problems=problems,
        identity=identity,
    )


def open_sbd(path: Path, split: str = "train") -> PairedFileSource:
    """An SBD split on its own (``train`` 8,498 or ``val`` 2,857 images)."""
    root = find_sbd_root(path)
    ids, list_file = sbd_split_ids(root, split)
    entries, missing = drop_missing((sbd_entry(root, i) for i in ids), list_file)
    entries, repeated = drop_duplicates(entries)
    return _voc_class_source("sbd", split, root, entries, missing + repeated)


def train_aug_ids(voc_train: list[str], voc_val: list[str], sbd_ids: list[str]) -> list[str]:
    """VOC train + SBD train/val - VOC val, in first-seen order (VOC first)."""
    excluded = set(voc_val)
    seen: set[str] = set()
    out: list[str] = []
    for sample_id in [*voc_train, *sbd_ids]:
        if sample_id not in excluded and sample_id not in seen:
            seen.add(sample_id)
            out.append(sample_id)
    return out


def open_voc_aug(voc_path: Path, sbd_path: Path, split: str = "train") -> PairedFileSource:
    """``train``: VOC ``train_aug`` (VOC + SBD); ``val``: VOC val, untouched by SBD."""
    voc_root = find_voc_root(voc_path)
    if split == "val":
        ids, list_file = voc_split_ids(voc_root, "val")
        entries, missing = drop_missing((voc_entry(voc_root, i) for i in ids), list_file)
        return _voc_class_source("voc_aug", split, voc_root, entries, missing)
    if split not in ("train", "train_aug"):
        raise DatasetError(f"voc_aug: split {split!r} unknown, expected train (train_aug) or val")
    sbd_root = find_sbd_root(sbd_path)
    voc_train, _ = voc_split_ids(voc_root, "train")
    voc_val, _ = voc_split_ids(voc_root, "val")
    sbd_ids = [i for s in ("train", "val") for i in sbd_split_ids(sbd_root, s)[0]]
    entries = []
    for sample_id in train_aug_ids(voc_train, voc_val, sbd_ids):
        voc = voc_entry(voc_root, sample_id)
        sbd = sbd_entry(sbd_root, sample_id)
        image = voc.image if voc.image.is_file() else sbd.image
        mask = voc.mask if voc.mask.is_file() else sbd.mask
        entries.append(Entry(sample_id, image, mask))
    entries, missing = drop_missing(entries, sbd_root)
    entries, repeated = drop_duplicates(entries)
    return _voc_class_source(
        "voc_aug", "train", voc_root, entries, missing + repeated, sbd_path=str(sbd_root.resolve())
    )
