"""A plain folder: ``images/`` and ``masks/`` matched by file stem, classes in ``classes.txt``.

Layouts: ``PATH/{split}/images`` + ``PATH/{split}/masks`` when such a folder exists, else
``PATH/images`` + ``PATH/masks`` as the ``train`` split. Masks are single-channel PNGs of class
ids (0 = background, 255 = ignore). ``classes.txt`` sits in ``PATH`` (or the split folder).
"""

from __future__ import annotations

from pathlib import Path

from segnas.data.classes import CLASSES_FILE, resolve_classes
from segnas.data.io import IMAGE_EXTENSIONS
from segnas.data.paired import Entry, PairedFileSource, drop_duplicates
from segnas.data.source import DatasetError, Problem, ProblemKind


def split_dir(root: Path, split: str, kind: str = "folder") -> Path:
    """``root/split`` when it has ``images/``, else `root` itself as the train split."""
    if (root / split / "images").is_dir():
        return root / split
    if (root / "images").is_dir() and split == "train":
        return root
    expected = str(root / split / "images")
    if split == "train":
        expected += f" or {root / 'images'}"
    else:
        expected += f" ({root / 'images'} without split folders is the train split only)"
    raise DatasetError(f"{kind}:{root}: expected {expected}", path=str(root))


def files_by_stem(
    folder: Path, extensions: frozenset[str] = IMAGE_EXTENSIONS
) -> list[tuple[str, Path]]:
    """(stem, file) for each visible file with one of `extensions`, sorted by name."""
    if not folder.is_dir():
        return []
    return [
        (p.stem, p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".")
    ]


def pair_by_stem(
    base: Path,
    targets: str = "masks",
    what: str = "mask",
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
) -> tuple[list[Entry], list[Problem]]:
    """Entries pairing ``base/images/x.*`` with ``base/{targets}/x.*`` (target files with
    `extensions`), and a problem for every unpaired or ambiguous file."""
    all_images = [Entry(stem, p, p) for stem, p in files_by_stem(base / "images")]
    all_masks = [Entry(stem, p, p) for stem, p in files_by_stem(base / targets, extensions)]
    images, problems = drop_duplicates(all_images)
    masks, mask_problems = drop_duplicates(all_masks)
    problems += mask_problems
    # partners are looked up among all files, so a duplicated stem is reported once, as such
    mask_of = {entry.id: entry.mask for entry in masks}
    image_ids = {entry.id for entry in all_images}
    mask_ids = {entry.id for entry in all_masks}
    problems += [
        Problem(str(e.image), ProblemKind.MISSING_PARTNER, f"no {what} {base / targets / e.id}.*")
        for e in images
        if e.id not in mask_ids
    ]
    problems += [
        Problem(str(e.mask), ProblemKind.MISSING_PARTNER, f"no image {base / 'images' / e.id}.*")
        for e in masks
        if e.id not in image_ids
    ]
    entries = [Entry(e.id, e.image, mask_of[e.id]) for e in images if e.id in mask_of]
    return entries, problems


def open_folder(
    path: Path, split: str = "train", num_classes: int | None = None
) -> PairedFileSource:
    """Pairs ``images/x.*`` with ``masks/x.*``; every unpaired or ambiguous file is reported."""
    root = path
    base = split_dir(root, split)
    classes_dir = base if (base / CLASSES_FILE).is_file() else root
    names, palette = resolve_classes(classes_dir, num_classes, f"folder:{root}")
    entries, problems = pair_by_stem(base)
    return PairedFileSource(
        name="folder",
        split=split,
        root=base,
        entries=entries,
        class_names=names,
        palette=palette,
        index_problems=problems,
    )
