"""Class maps for image files: a colour mask, an overlay and raw 8-bit class ids per image.

Inputs are checked (found, image suffix, fully decodable) before any prediction, so a bad file
in a folder of thousands stops the run at once instead of after hours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from segnas.data.classes import make_palette
from segnas.data.io import read_image
from segnas.data.source import IGNORE_INDEX, Sample
from segnas.data.transforms import EvalTransform
from segnas.data.viz import colorize, overlay
from segnas.final.eval import check_scales, predict_probabilities
from segnas.settings_io import require
from segnas.space.model_file import ModelFileError, ModelMeta

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
"""File suffixes (any case) taken as images, directly or inside a folder."""

OUTPUTS = ("mask", "overlay", "classes")
"""Files written per image: `<name>_mask.png`, `<name>_overlay.png`, `<name>_classes.png`."""


@dataclass(frozen=True)
class PredictSettings:
    """How `segnas predict` renders its outputs."""

    alpha: float = 0.5
    """Weight of the class colours in the overlay: 0 shows the image only, 1 the mask only."""
    scales: tuple[float, ...] = (1.0,)
    """Input scales whose class probabilities are averaged (multi-scale testing)."""
    flip: bool = False
    """Also predict on the mirrored image and average."""

    def __post_init__(self) -> None:
        require(0.0 <= self.alpha <= 1.0, "alpha", self.alpha, "a number in [0, 1]")
        check_scales(self.scales)


def collect_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Files named directly (must be images) and the images directly inside named folders.

    A file reached twice (itself and through its folder) is kept once, at its first place.
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(
                p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files:
                raise ValueError(f"{item}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found.extend(files)
        elif item.is_file():
            if item.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError(
                    f"{item}: not an image file, expected one of {', '.join(IMAGE_SUFFIXES)}"
                )
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def check_images(
    paths: Sequence[Path], on_image: Callable[[], None] | None = None
) -> list[tuple[int, int]]:
    """(H, W) of every image, decoding each fully; a `SampleError` names the first bad file."""
    sizes = []
    for path in paths:
        sizes.append(read_image(path).shape[:2])
        if on_image is not None:
            on_image()
    return sizes


def _name(path: Path, level: int, index: int) -> str:
    """Output name at a disambiguation level: stem, stem_ext, then parent folders prepended."""
    stem, ext = path.stem, path.suffix.lower().lstrip(".")
    if level == 0:
        return stem
    folders = path.resolve().parent.parts[1:]  # without the root or drive
    depth = level - 1
    prefix = "_".join(folders[max(0, len(folders) - depth) :]) if depth else ""
    name = f"{prefix}_{stem}_{ext}" if prefix else f"{stem}_{ext}"
    return name if depth <= len(folders) else f"{name}_{index}"


def output_names(paths: Sequence[Path]) -> list[str]:
    """A distinct output name per image: its stem where that is unique, else the stem told
    apart by its suffix and then by as many parent folders as it takes (`x_img_png`)."""
    levels = [0] * len(paths)
    while True:
        names = [_name(p, level, i) for i, (p, level) in enumerate(zip(paths, levels))]
        counts = Counter(names)
        clashing = [i for i, name in enumerate(names) if counts[name] > 1]
        if not clashing:
            return names
        for i in clashing:
            levels[i] += 1


def palette_for(meta: ModelMeta, origin: str) -> np.ndarray:
    """(K, 3) uint8 class colours: the model file's `info.palette` when it has one, else the
    PASCAL VOC colour scheme (`make_palette`), which VOC tools and viewers expect."""
    if meta.num_classes > IGNORE_INDEX:
        raise ModelFileError(
            f"{origin}: {meta.num_classes} classes do not fit 8-bit class-id images "
            f"(at most {IGNORE_INDEX})"
        )
    stored = meta.info.get("palette")
    if stored is None:
        return make_palette(meta.num_classes)
    palette = np.asarray(stored)
    if (
        palette.shape != (meta.num_classes, 3)
        or not np.issubdtype(palette.dtype, np.integer)
        or palette.min() < 0
        or palette.max() > 255
    ):
        raise ModelFileError(
            f"{origin}: info.palette has shape {palette.shape} {palette.dtype}, expected "
            f"{meta.num_classes} RGB triples of integers 0-255"
        )
    return palette.astype(np.uint8)


def predict_classes(
    net: nn.Module,
    image: np.ndarray,
    device: torch.device,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 class ids, normalised exactly as `EvalTransform`."""
    unlabelled = np.full(image.shape[:2], IGNORE_INDEX, np.uint8)
    pixels, _ = EvalTransform()(Sample("input", image, unlabelled))  # (3, H, W)
    probs = predict_probabilities(net.eval(), pixels[None].to(device), scales, flip)  # (1, K, H, W)
    return probs[0].argmax(0).to(torch.uint8).cpu().numpy()


def write_prediction(
    out_dir: Path,
    name: str,
    image: np.ndarray,
    classes: np.ndarray,
    palette: np.ndarray,
    alpha: float,
) -> dict[str, Path]:
    """Write the three PNGs of one image; returns them by kind (`OUTPUTS`)."""
    paths = {kind: out_dir / f"{name}_{kind}.png" for kind in OUTPUTS}
    Image.fromarray(colorize(classes, palette)).save(paths["mask"])
    Image.fromarray(overlay(image, classes, palette, alpha)).save(paths["overlay"])
    Image.fromarray(np.ascontiguousarray(classes, np.uint8)).save(paths["classes"])  # mode L
    return paths
