"""Which NYU Depth v2 images form each split: the official ``splits.mat`` or a plain list file.

The official split (795 train / 654 test) ships as ``splits.mat`` with 1-based column vectors
``trainNdxs`` and ``testNdxs``. Any other split (for instance a larger training list) is a text
file of ``SPLIT INDEX`` lines::

    # comments and blank lines are skipped
    train 1
    train 2
    val 3       # INDEX is 1-based, as in MATLAB and splits.mat

``val`` is the official ``test`` part; ``--split test`` reads it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from segnas.data.source import DatasetError, ProblemKind

LIST_SPLITS = ("train", "val")
"""The split names a list file may use, in the order `format_split_list` writes them."""
SPLIT_ALIASES = {"train": "train", "val": "val", "test": "val"}
"""``--split`` values and the part of the file each one reads."""
MAT_VARIABLES = {"train": "trainNdxs", "val": "testNdxs"}
"""The ``splits.mat`` variable holding each split's 1-based indices."""
SPLITS_FILE = "splits.mat"


def parse_split_list(text: str, origin: str) -> dict[str, list[int]]:
    """1-based indices per split from ``SPLIT INDEX`` lines; a bad or repeated line raises a
    `DatasetError` naming ``origin:LINE``."""
    splits: dict[str, list[int]] = {name: [] for name in LIST_SPLITS}
    seen: dict[int, int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.partition("#")[0].strip()
        if not line:
            continue
        fields = line.split()
        where = f"{origin}:{number}"
        if len(fields) != 2 or fields[0] not in splits or not _is_index(fields[1]):
            raise DatasetError(
                f"{where}: got {raw.strip()[:80]!r}, expected SPLIT INDEX with SPLIT one of "
                f"{', '.join(LIST_SPLITS)} and INDEX a 1-based image number",
                path=where,
                kind=ProblemKind.BAD_LINE,
            )
        index = int(fields[1])
        if index in seen:
            raise DatasetError(
                f"{where}: image {index} already listed on line {seen[index]}; each image "
                "belongs to one split, once",
                path=where,
                kind=ProblemKind.BAD_LINE,
            )
        seen[index] = number
        splits[fields[0]].append(index)
    return splits


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) >= 1


def format_split_list(splits: Mapping[str, Sequence[int]]) -> str:
    """The inverse of `parse_split_list`: a header comment, then the train and val lines."""
    lines = ["# SPLIT INDEX (1-based image numbers of nyu_depth_v2_labeled.mat)"]
    lines += [f"{name} {index}" for name in LIST_SPLITS for index in splits.get(name, ())]
    return "\n".join(lines) + "\n"


def read_split_mat(path: Path) -> dict[str, list[int]]:
    """The official split from ``splits.mat`` (MATLAB v5, as released with the dataset)."""
    from scipy.io import loadmat  # scipy is slow to import; only NYU and SBD need it

    variables = " and ".join(MAT_VARIABLES.values())
    expected = f"expected a MATLAB file with 1-based index vectors {variables}"
    try:
        mat = loadmat(str(path))
    except Exception as err:  # scipy raises ValueError, TypeError, OSError... on damaged files
        raise DatasetError(
            f"{path}: not a readable .mat file ({type(err).__name__}: {err}); {expected}",
            path=str(path),
        ) from err
    splits: dict[str, list[int]] = {}
    for name, variable in MAT_VARIABLES.items():
        values = mat.get(variable)
        numbers = np.asarray(values).ravel() if isinstance(values, np.ndarray) else None
        if (
            numbers is None
            or numbers.dtype.kind not in "iuf"
            or not np.all(numbers == np.round(numbers))
            or (numbers.size and numbers.min() < 1)
        ):
            raise DatasetError(
                f"{path}: variable {variable} missing or not indices; {expected}", path=str(path)
            )
        splits[name] = [int(k) for k in numbers]
    return splits


def read_splits(path: Path) -> dict[str, list[int]]:
    """Indices per split from a ``.mat`` split file or a ``SPLIT INDEX`` list file."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such split file", path=str(path))
    if path.suffix.lower() == ".mat":
        return read_split_mat(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(
            f"{path}: cannot read ({err}); expected SPLIT INDEX lines", path=str(path)
        ) from err
    return parse_split_list(text, str(path))


def find_split_file(mat: Path, given: Path | None) -> Path:
    """`given`, else ``splits.mat`` beside the dataset file; the error says where to put it."""
    if given is not None:
        return given
    beside = mat.parent / SPLITS_FILE
    if beside.is_file():
        return beside
    raise DatasetError(
        f"nyu:{mat}: no split file; expected the official {SPLITS_FILE} (trainNdxs, testNdxs) "
        f"at {beside}, or name one: nyu:{mat},SPLITS (a .mat like it, or SPLIT INDEX lines)",
        path=str(mat),
    )


def check_indices(splits: Mapping[str, Sequence[int]], count: int, origin: Path) -> None:
    """Every index must name one of the `count` images of the dataset file."""
    for name, indices in splits.items():
        outside = [k for k in indices if not 1 <= k <= count]
        if outside:
            raise DatasetError(
                f"{origin}: {name} index {outside[0]} outside 1..{count} (the dataset file has "
                f"{count} images; indices are 1-based)",
                path=str(origin),
            )
