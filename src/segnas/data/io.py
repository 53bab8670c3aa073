"""Reading image and mask files into arrays, turning every failure into a named `SampleError`.

PIL raises half a dozen exception types for damaged files; catching them here, once, is what lets
`segnas data check` report every bad file instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from segnas.data.source import DatasetError, ProblemKind

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})
"""File suffixes (lower case) the folder reader treats as images or masks."""


class SampleError(DatasetError):
    """One sample cannot be read; `path` names the file and `kind` says why."""


def open_image(path: Path) -> Image.Image:
    """The decoded PIL image; every failure becomes a `SampleError` with its `ProblemKind`."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError as err:
        raise SampleError(
            f"{path}: file not found", path=str(path), kind=ProblemKind.MISSING_FILE
        ) from err
    except UnidentifiedImageError as err:
        raise SampleError(
            f"{path}: not an image PIL can read", path=str(path), kind=ProblemKind.UNREADABLE
        ) from err
    except OSError as err:
        kind = ProblemKind.TRUNCATED if "truncated" in str(err).lower() else ProblemKind.UNREADABLE
        raise SampleError(f"{path}: {err}", path=str(path), kind=kind) from err
    except Exception as err:  # PIL also raises SyntaxError, ValueError, struct.error on bad data
        raise SampleError(
            f"{path}: damaged image ({type(err).__name__}: {err})",
            path=str(path),
            kind=ProblemKind.UNREADABLE,
        ) from err
    return image


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any PIL-readable file (grey, palette and RGBA are converted)."""
    image = open_image(path)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def read_label_png(path: Path) -> np.ndarray:
    """(H, W) uint8 class ids from a palette ("P") or greyscale mask; the palette is ignored.

    Colour (RGB) masks are refused rather than guessed: a wrong colour-to-id map trains silently.
    """
    image = open_image(path)
    if image.mode in ("P", "L"):
        return np.asarray(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "1"):
        values = np.asarray(image)
        if values.size and int(values.max()) > 255:
            raise SampleError(
                f"{path}: mask value {int(values.max())} does not fit a uint8 class id",
                path=str(path),
                kind=ProblemKind.LABEL_OUT_OF_RANGE,
            )
        return values.astype(np.uint8)
    raise SampleError(
        f"{path}: mask mode is {image.mode}, expected a single-channel (P or L) PNG of class ids",
        path=str(path),
        kind=ProblemKind.BAD_MASK,
    )


def load_file(path: Path, load: Callable[[Path], Any], what: str) -> Any:
    """`load(path)`, a missing or damaged file turned into a `SampleError` naming it (loaders
    raise ValueError, TypeError, OSError, EOFError... on damaged files)."""
    try:
        return load(path)
    except FileNotFoundError as err:
        raise SampleError(
            f"{path}: file not found", path=str(path), kind=ProblemKind.MISSING_FILE
        ) from err
    except Exception as err:  # noqa: BLE001 - any failure to parse is "unreadable"
        raise SampleError(
            f"{path}: not a readable {what} file ({type(err).__name__}: {err})",
            path=str(path),
            kind=ProblemKind.UNREADABLE,
        ) from err


def read_sbd_mat(path: Path) -> np.ndarray:
    """(H, W) uint8 class ids from an SBD ``cls/*.mat`` file (struct ``GTcls``, field
    ``Segmentation``), as released by Hariharan et al. and as scipy.io.savemat writes it."""
    from scipy.io import loadmat  # scipy is slow to import; only SBD needs it

    def load(p: Path) -> dict:
        return loadmat(str(p), squeeze_me=True, struct_as_record=False)

    mat = load_file(path, load, ".mat")
    struct = mat.get("GTcls")
    segmentation = getattr(struct, "Segmentation", None)
    if not isinstance(segmentation, np.ndarray) or segmentation.ndim != 2:
        raise SampleError(
            f"{path}: expected a struct GTcls with a 2-D field Segmentation",
            path=str(path),
            kind=ProblemKind.UNREADABLE,
        )
    if segmentation.size and (segmentation.min() < 0 or segmentation.max() > 255):
        raise SampleError(
            f"{path}: GTcls.Segmentation holds {segmentation.min()}..{segmentation.max()}, "
            "expected uint8 class ids",
            path=str(path),
            kind=ProblemKind.LABEL_OUT_OF_RANGE,
        )
    return np.ascontiguousarray(segmentation, dtype=np.uint8)


def read_mask(path: Path) -> np.ndarray:
    """Class ids from a mask image or, for ``.mat`` files, an SBD annotation."""
    if path.suffix.lower() == ".mat":
        return read_sbd_mat(path)
    return read_label_png(path)
