"""Colouring masks: palettes, overlays and the preview grid (reused by ``segnas predict``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from segnas.data.source import IGNORE_INDEX, SegmentationSource

IGNORE_COLOUR = (255, 255, 255)
"""Colour of ignored and out-of-range pixels (white, unused by the palettes)."""


def colorize(mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) class ids to (H, W, 3) uint8 colours; ignore and unknown ids are white."""
    table = np.empty((256, 3), np.uint8)
    table[:] = IGNORE_COLOUR
    table[: min(len(palette), IGNORE_INDEX)] = palette[:IGNORE_INDEX]
    return table[mask]


def overlay(image: np.ndarray, mask: np.ndarray, palette: np.ndarray, alpha: float = 0.5):
    """Blend class colours over an (H, W, 3) uint8 image; `alpha` is the colour's weight."""
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colorize(mask, palette)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _fit(tile: np.ndarray, side: int, resample: Image.Resampling) -> Image.Image:
    """Scale to fit a side x side square, centred on black."""
    picture = Image.fromarray(tile)
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    canvas = Image.new("RGB", (side, side))
    canvas.paste(picture.resize(size, resample), ((side - size[0]) // 2, (side - size[1]) // 2))
    return canvas


def preview_grid(
    source: SegmentationSource,
    n: int,
    path: Path,
    *,
    seed: int | None = 0,
    tile: int = 128,
    columns: int | None = None,
) -> Path:
    """Write a PNG grid of `n` samples (picked by `seed`; None = the first n), each shown as
    image and overlay side by side, with a colour legend of the classes below."""
    count = min(n, len(source))
    if seed is None:
        picks = list(range(count))
    else:
        picks = sorted(np.random.default_rng(seed).choice(len(source), count, replace=False))
    columns = columns or max(1, min(4, count))
    rows = -(-count // columns)
    font = ImageFont.load_default()
    legend_rows = -(-source.num_classes // 4)
    width = columns * 2 * tile
    canvas = Image.new("RGB", (width, rows * (tile + 14) + legend_rows * 16 + 6), (32, 32, 32))
    draw = ImageDraw.Draw(canvas)
    for k, index in enumerate(picks):
        sample = source[int(index)]
        x, y = (k % columns) * 2 * tile, (k // columns) * (tile + 14)
        blended = overlay(sample.image, sample.mask, source.palette)
        canvas.paste(_fit(sample.image, tile, Image.Resampling.BILINEAR), (x, y))
        canvas.paste(_fit(blended, tile, Image.Resampling.NEAREST), (x + tile, y))
        draw.text((x + 2, y + tile), sample.id[:40], fill=(220, 220, 220), font=font)
    top = rows * (tile + 14) + 4
    for k, (name, colour) in enumerate(zip(source.class_names, source.palette.tolist())):
        x, y = (k % 4) * (width // 4) + 4, top + (k // 4) * 16
        draw.rectangle((x, y, x + 12, y + 12), fill=tuple(colour), outline=(200, 200, 200))
        draw.text((x + 16, y), f"{k} {name}", fill=(220, 220, 220), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
