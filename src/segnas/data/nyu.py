"""NYU Depth v2, labelled part: ``nyu:FILE.mat[,SPLITS]`` with ``--task depth``.

``nyu_depth_v2_labeled.mat`` is a MATLAB v7.3 file, i.e. HDF5, read with h5py (``pip install
'segnas[nyu]'``). MATLAB stores arrays column-major, so h5py sees them transposed: ``images`` is
(N, 3, W, H) uint8 and ``depths`` (N, W, H) float metres; samples are turned back to (H, W, 3)
and (H, W). The 894-class labels are not read (samples carry no mask). Splits come from
`segnas.data.nyu_splits`.

The HDF5 file is opened lazily, once per process: an open handle neither pickles nor survives
a fork, so DataLoader workers each open their own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from segnas.data.depth import DEPTH_CLASS_NAMES, DEPTH_PALETTE, check_depth, check_depth_classes
from segnas.data.io import SampleError
from segnas.data.nyu_splits import SPLIT_ALIASES, check_indices, find_split_file, read_splits
from segnas.data.source import DatasetError, Problem, ProblemKind, Sample, SegmentationSource

EXPECTED = (
    "expected NYU Depth v2's nyu_depth_v2_labeled.mat (MATLAB v7.3 / HDF5) with datasets "
    "images (N, 3, W, H) uint8 and depths (N, W, H) float"
)


def _h5py() -> Any:
    """h5py, imported only when NYU is read (it is an optional dependency)."""
    try:
        import h5py
    except ImportError as err:
        raise DatasetError(
            "nyu: reading NYU Depth v2 needs h5py; pip install 'segnas[nyu]' (or pip install h5py)"
        ) from err
    return h5py


def _open_file(path: Path) -> Any:
    h5py = _h5py()
    if not path.is_file():
        raise DatasetError(f"nyu:{path}: no such file; {EXPECTED}", path=str(path))
    try:
        if not h5py.is_hdf5(str(path)):
            raise DatasetError(
                f"{path}: not an HDF5 file (older MATLAB .mat formats are not read); {EXPECTED}",
                path=str(path),
            )
        return h5py.File(str(path), "r")
    except OSError as err:
        raise DatasetError(f"{path}: cannot open ({err}); {EXPECTED}", path=str(path)) from err


def _layout(path: Path) -> tuple[int, tuple[int, int]]:
    """(image count, (H, W)) of a valid file; a `DatasetError` naming what is wrong otherwise."""
    h5py = _h5py()
    with _open_file(path) as file:
        missing = [
            name for name in ("images", "depths") if not isinstance(file.get(name), h5py.Dataset)
        ]
        if missing:
            raise DatasetError(
                f"{path}: no dataset {' or '.join(missing)}; {EXPECTED}", path=str(path)
            )
        images, depths = file["images"], file["depths"]
        if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8:
            raise DatasetError(
                f"{path}: images is {images.shape} {images.dtype}; {EXPECTED}", path=str(path)
            )
        if depths.ndim != 3 or depths.dtype.kind != "f":
            raise DatasetError(
                f"{path}: depths is {depths.shape} {depths.dtype}; {EXPECTED}", path=str(path)
            )
        if images.shape[0] != depths.shape[0] or images.shape[2:] != depths.shape[1:]:
            raise DatasetError(
                f"{path}: images {images.shape} and depths {depths.shape} disagree in count or "
                f"size; {EXPECTED}",
                path=str(path),
            )
        width, height = images.shape[2:]
        return int(images.shape[0]), (int(height), int(width))


class NyuSource(SegmentationSource):
    """One split of NYU Depth v2's labelled images; ids are the 1-based image numbers."""

    name = "nyu"
    task = "depth"

    def __init__(self, path: Path, split_file: Path, split: str, indices: list[int]) -> None:
        self.path = path
        self.split_file = split_file
        self.split = split
        self.indices = list(indices)
        self.ids = [f"{index:04d}" for index in self.indices]
        self.num_classes = 1
        self.class_names = list(DEPTH_CLASS_NAMES)
        self.palette = DEPTH_PALETTE.copy()
        self.background_index = None
        empty = Problem(str(split_file), ProblemKind.EMPTY_SPLIT, f"split {split!r} has no images")
        self.index_problems = [] if indices else [empty]
        self._file: Any = None
        self._pid: int | None = None

    def _datasets(self) -> Any:
        if self._file is None or self._pid != os.getpid():  # a forked handle is not usable
            self._file = _open_file(self.path)
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        """Pickles the path only; the receiving process opens the file itself."""
        return {**self.__dict__, "_file": None, "_pid": None}

    def __getitem__(self, i: int) -> Sample:
        index = self.indices[i]
        where = self.files(i)[0]
        file = self._datasets()
        try:
            image = np.asarray(file["images"][index - 1], dtype=np.uint8)
            depth = np.asarray(file["depths"][index - 1])
        except (OSError, KeyError, ValueError) as err:
            raise SampleError(
                f"{where}: cannot read ({err})", path=where, kind=ProblemKind.UNREADABLE
            ) from err
        image = np.ascontiguousarray(image.transpose(2, 1, 0))  # (3, W, H) -> (H, W, 3)
        depth = np.ascontiguousarray(check_depth(depth.T, where))  # (W, H) -> (H, W)
        return Sample(self.ids[i], image, None, depth=depth)

    def files(self, i: int) -> tuple[str, ...]:
        return (f"{self.path}#{self.indices[i]}",)

    def describe(self) -> dict[str, Any]:
        return {
            "format": "nyu",
            "path": str(self.path.resolve()),
            "split_file": str(self.split_file.resolve()),
            "split": self.split,
            "count": len(self.ids),
            "num_classes": 1,
            "task": "depth",
        }


def open_nyu(
    path: Path,
    split_file: Path | None = None,
    split: str = "train",
    num_classes: int | None = None,
) -> NyuSource:
    """Check the file's layout and the split file now, so that errors appear before training."""
    check_depth_classes(num_classes, f"nyu:{path}")
    if split not in SPLIT_ALIASES:
        raise DatasetError(
            f"nyu:{path}: split {split!r} unknown, expected {', '.join(SPLIT_ALIASES)} "
            "(test is val: the official test images)",
            path=str(path),
        )
    count, _ = _layout(path)
    splits_path = find_split_file(path, split_file)
    splits = read_splits(splits_path)
    check_indices(splits, count, splits_path)
    return NyuSource(path, splits_path, split, splits[SPLIT_ALIASES[split]])
