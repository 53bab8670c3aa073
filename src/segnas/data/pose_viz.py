"""Drawing a person instance for previews: its box and keypoints over the (scaled) image.

Points are drawn on the scaled tile rather than scaled with the image, so they stay visible on
large photos: filled discs for visible keypoints, rings for hidden ones, nothing for unlabelled.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

BOX_COLOUR = (255, 255, 255)
RADIUS = 2.5


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray | None,
    box: np.ndarray | None,
    palette: np.ndarray,
    side: int,
) -> Image.Image:
    """`image` fitted into a side x side square (centred on black) with the box outlined and
    each labelled keypoint k drawn in ``palette[k]``."""
    picture = Image.fromarray(image)
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    left, top = (side - size[0]) // 2, (side - size[1]) // 2
    canvas = Image.new("RGB", (side, side))
    canvas.paste(picture.resize(size, Image.Resampling.BILINEAR), (left, top))
    draw = ImageDraw.Draw(canvas)
    if box is not None and np.isfinite(box).all():
        x, y, w, h = (float(v) for v in box)
        corners = (left + x * scale, top + y * scale, left + (x + w) * scale, top + (y + h) * scale)
        if corners[2] > corners[0] and corners[3] > corners[1]:
            draw.rectangle(corners, outline=BOX_COLOUR)
    for k, (x, y, v) in enumerate(np.asarray(keypoints if keypoints is not None else []).tolist()):
        if v not in (1.0, 2.0) or not (np.isfinite(x) and np.isfinite(y)):
            continue
        cx, cy = left + x * scale, top + y * scale
        colour = tuple(int(c) for c in palette[k % len(palette)])
        disc = (cx - RADIUS, cy - RADIUS, cx + RADIUS, cy + RADIUS)
        draw.ellipse(disc, fill=colour if v == 2.0 else None, outline=colour)
    return canvas
