"""Class tables: the VOC-style colour palette and ``classes.txt`` for formats that lack one."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from segnas.data.source import IGNORE_INDEX, DatasetError

CLASSES_FILE = "classes.txt"


def make_palette(n: int) -> np.ndarray:
    """(n, 3) uint8 colours spread by bit interleaving, the scheme PASCAL VOC masks use.

    Class k's colour puts bit j of k's three interleaved bit planes at bit 7-j of R, G, B, so
    neighbouring ids get very different colours and VOC previews match the official ones.
    """
    ids = np.arange(n, dtype=np.int64)
    palette = np.zeros((n, 3), dtype=np.int64)
    for j in range(8):
        for channel in range(3):
            bit = (ids >> (3 * j + channel)) & 1
            palette[:, channel] |= bit << (7 - j)
    return palette.astype(np.uint8)


def read_classes_file(path: Path) -> list[str]:
    """Class names, one per line in id order; blank lines and ``#`` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read class names ({err})", path=str(path)) from err
    names = [line.strip() for line in text.splitlines()]
    names = [name for name in names if name and not name.startswith("#")]
    if not names:
        raise DatasetError(
            f"{path}: no class names, expected one name per line (background first)",
            path=str(path),
        )
    if len(names) > IGNORE_INDEX:
        raise DatasetError(
            f"{path}: {len(names)} classes, at most {IGNORE_INDEX} fit in uint8 masks",
            path=str(path),
        )
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DatasetError(f"{path}: class names repeat: {', '.join(repeated)}", path=str(path))
    return names


def resolve_classes(
    folder: Path, num_classes: int | None, origin: str
) -> tuple[list[str], np.ndarray]:
    """Names and palette from ``folder/classes.txt`` or ``--classes N``; both must agree.

    Formats that do not define their classes (plain folders, list files) need one of the two;
    guessing from the masks would silently drop classes absent from a split.
    """
    path = folder / CLASSES_FILE
    if path.is_file():
        names = read_classes_file(path)
        if num_classes is not None and num_classes != len(names):
            raise DatasetError(
                f"{path} lists {len(names)} classes but --classes is {num_classes}",
                path=str(path),
            )
    elif num_classes is None:
        raise DatasetError(
            f"{origin} does not define its classes: write {path} (one name per line, "
            "background first) or pass --classes N",
            path=str(path),
        )
    elif not 1 <= num_classes <= IGNORE_INDEX:
        raise DatasetError(f"--classes: got {num_classes}, expected 1 to {IGNORE_INDEX}")
    else:
        names = ["background", *[f"class{k}" for k in range(1, num_classes)]]
    return names, make_palette(len(names))
