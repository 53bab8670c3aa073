"""What every depth source shares: the one-output class table, value checks and the file reader.

Depth is float32 metres with 0 or NaN meaning "no measurement" (sensors leave holes). Infinite
and negative values are refused instead of passed on: a loss that masks only 0 and NaN would
train on them, and they always mean a conversion went wrong upstream.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segnas.data.io import IMAGE_EXTENSIONS, SampleError, load_file, open_image
from segnas.data.source import DatasetError, ProblemKind

DEPTH_CLASS_NAMES = ["depth"]
"""The class table of a depth source: one output channel."""
DEPTH_PALETTE = np.array([[255, 255, 255]], np.uint8)
DEPTH_EXTENSIONS = IMAGE_EXTENSIONS | {".npy"}
"""Files the depth folder reader pairs; everything but 16-bit PNGs and float .npy is then
refused by `read_depth` with the reason, rather than silently left unpaired."""
MILLIMETRES_PER_METRE = 1000.0
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B")


def check_depth_classes(num_classes: int | None, origin: str) -> None:
    """`--classes` means nothing for depth; accept only None or 1 so a mistake is not ignored."""
    if num_classes not in (None, 1):
        raise DatasetError(
            f"{origin}: --classes {num_classes} given for a depth dataset, which has one "
            "output (depth); leave --classes out",
            path=origin,
        )


def check_depth(values: np.ndarray, path: str) -> np.ndarray:
    """(H, W) float32 metres from a 2-D array, refusing infinite and negative values (NaN and
    0 stay: they mark missing pixels)."""
    if values.ndim != 2:
        raise SampleError(
            f"{path}: depth has shape {values.shape}, expected (H, W): one channel",
            path=path,
            kind=ProblemKind.BAD_DEPTH,
        )
    depth = np.asarray(values, dtype=np.float32)
    infinite = int(np.isinf(depth).sum())
    if infinite:
        raise SampleError(
            f"{path}: depth holds {infinite} infinite value(s), expected metres with 0 or NaN "
            "where missing",
            path=path,
            kind=ProblemKind.BAD_DEPTH,
        )
    negative = depth < 0  # NaN compares False: kept as missing
    if negative.any():
        raise SampleError(
            f"{path}: depth holds {int(negative.sum())} negative value(s) (lowest "
            f"{float(depth[negative].min()):g}), expected metres >= 0",
            path=path,
            kind=ProblemKind.BAD_DEPTH,
        )
    return depth


def _read_npy(path: Path) -> np.ndarray:
    values = load_file(path, lambda p: np.load(p, allow_pickle=False), ".npy")
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f":
        raise SampleError(
            f"{path}: .npy depth is {getattr(values, 'dtype', type(values).__name__)}, expected "
            "float16/32/64 metres (integer millimetres belong in a 16-bit PNG)",
            path=str(path),
            kind=ProblemKind.BAD_DEPTH,
        )
    return check_depth(values, str(path))


def _read_png(path: Path) -> np.ndarray:
    image = open_image(path)
    if image.mode not in SIXTEEN_BIT_MODES:
        raise SampleError(
            f"{path}: depth image mode is {image.mode}, expected a single-channel 16-bit PNG "
            "of millimetres (or a float .npy of metres)",
            path=str(path),
            kind=ProblemKind.BAD_DEPTH,
        )
    millimetres = np.asarray(image).astype(np.float32)
    return check_depth(millimetres / MILLIMETRES_PER_METRE, str(path))


def read_depth(path: Path) -> np.ndarray:
    """(H, W) float32 metres from a 16-bit PNG of millimetres (0 = missing) or a float ``.npy``
    of metres (0 or NaN = missing); anything else is a `SampleError` naming the file."""
    if path.suffix.lower() == ".npy":
        return _read_npy(path)
    return _read_png(path)
