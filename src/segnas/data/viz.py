"""Colouring masks and depth: palettes, overlays, depth colour maps and the preview grid
(reused by ``segnas predict``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from segnas.data.pose_viz import draw_pose
from segnas.data.source import IGNORE_INDEX, SegmentationSource

IGNORE_COLOUR = (255, 255, 255)
"""Colour of ignored and out-of-range pixels (white, unused by the palettes)."""
DEPTH_COLOURMAP = "turbo"
"""Matplotlib colour map of depth images: near is blue, far is red; missing pixels are black."""


def colorize(mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) class ids to (H, W, 3) uint8 colours; ignore and unknown ids are white."""
    table = np.empty((256, 3), np.uint8)
    table[:] = IGNORE_COLOUR
    table[: min(len(palette), IGNORE_INDEX)] = palette[:IGNORE_INDEX]
    return table[mask]


def _depth_table() -> np.ndarray:
    from matplotlib import colormaps  # slow to import; only depth previews need it

    rgba = colormaps[DEPTH_COLOURMAP](np.linspace(0.0, 1.0, 256))
    return (rgba[:, :3] * 255 + 0.5).astype(np.uint8)


def depth_range(*depths: np.ndarray) -> tuple[float, float] | None:
    """(min, max) metres over the valid (finite, > 0) pixels of all maps; None if there are none."""
    valid = [d[np.isfinite(d) & (d > 0)] for d in depths]
    valid = [v for v in valid if v.size]
    if not valid:
        return None
    return min(float(v.min()) for v in valid), max(float(v.max()) for v in valid)


def colorize_depth(
    depth: np.ndarray, vmin: float | None = None, vmax: float | None = None
) -> np.ndarray:
    """(H, W) metres to (H, W, 3) uint8 colours of `DEPTH_COLOURMAP`, missing (0, NaN) black.

    `vmin` and `vmax` default to this map's valid range; pass shared ones so that several maps
    (a prediction beside its ground truth) use the same colours for the same distance.
    """
    depth = np.asarray(depth, dtype=np.float32)
    out = np.zeros((*depth.shape, 3), np.uint8)
    own = depth_range(depth)
    if own is None:
        return out
    low = own[0] if vmin is None else float(vmin)
    high = own[1] if vmax is None else float(vmax)
    valid = np.isfinite(depth) & (depth > 0)
    scale = 255 / (high - low) if high > low else 0.0
    steps = np.clip(np.round((depth[valid] - low) * scale), 0, 255).astype(np.intp)
    out[valid] = _depth_table()[steps]
    return out


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
    image and overlay side by side, with a colour legend of the classes below. Depth sources
    show the colour-mapped depth instead, on one scale for the whole grid; pose sources the
    instance's box and keypoints (legend: the keypoint names)."""
    count = min(n, len(source))
    if seed is None:
        picks = list(range(count))
    else:
        picks = sorted(np.random.default_rng(seed).choice(len(source), count, replace=False))
    samples = [source[int(index)] for index in picks]
    depth = source.task == "depth"
    scale = depth_range(*[s.depth for s in samples if s.depth is not None]) if depth else None
    columns = columns or max(1, min(4, count))
    rows = -(-count // columns)
    font = ImageFont.load_default()
    legend_rows = 1 if depth else -(-source.num_classes // 4)
    width = columns * 2 * tile
    canvas = Image.new("RGB", (width, rows * (tile + 14) + legend_rows * 16 + 6), (32, 32, 32))
    draw = ImageDraw.Draw(canvas)
    nearest = Image.Resampling.NEAREST
    for k, sample in enumerate(samples):
        x, y = (k % columns) * 2 * tile, (k // columns) * (tile + 14)
        if depth:
            right = _fit(colorize_depth(sample.depth, *(scale or (None, None))), tile, nearest)
        elif source.task == "pose":
            right = draw_pose(sample.image, sample.keypoints, sample.box, source.palette, tile)
        else:
            right = _fit(overlay(sample.image, sample.mask, source.palette), tile, nearest)
        canvas.paste(_fit(sample.image, tile, Image.Resampling.BILINEAR), (x, y))
        canvas.paste(right, (x + tile, y))
        draw.text((x + 2, y + tile), sample.id[:40], fill=(220, 220, 220), font=font)
    top = rows * (tile + 14) + 4
    if depth:
        _depth_legend(canvas, draw, font, top, scale)
    else:
        _class_legend(source, draw, font, top, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


def _class_legend(
    source: SegmentationSource,
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    top: int,
    width: int,
) -> None:
    """Each class's colour and name, four to a row."""
    for k, (name, colour) in enumerate(zip(source.class_names, source.palette.tolist())):
        x, y = (k % 4) * (width // 4) + 4, top + (k // 4) * 16
        draw.rectangle((x, y, x + 12, y + 12), fill=tuple(colour), outline=(200, 200, 200))
        draw.text((x + 16, y), f"{k} {name}", fill=(220, 220, 220), font=font)


def _depth_legend(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    top: int,
    scale: tuple[float, float] | None,
) -> None:
    """A colour bar from the nearest to the farthest valid depth of the grid."""
    if scale is None:
        draw.text((4, top), "depth: no valid pixels", fill=(220, 220, 220), font=font)
        return
    draw.text((4, top), f"{scale[0]:.2f} m", fill=(220, 220, 220), font=font)
    bar = np.repeat(_depth_table()[np.linspace(0, 255, 96).astype(np.intp)][None], 12, axis=0)
    canvas.paste(Image.fromarray(bar), (60, top))
    label = f"{scale[1]:.2f} m   black: missing"
    draw.text((164, top), label, fill=(220, 220, 220), font=font)
