"""Rasterising the scene's shapes into pixel masks within their bounding boxes.

Pixel (row i, column j) covers [j, j+1) x [i, i+1); a pixel belongs to a shape when its centre
does. Only +, -, *, / and comparisons touch arrays, so results are identical on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Footprint:
    """A shape's pixels: a boolean mask over the window rows y0:y1, columns x0:x1."""

    y0: int
    x0: int
    inside: np.ndarray
    """(y1 - y0, x1 - x0) bool."""

    @property
    def window(self) -> tuple[slice, slice]:
        h, w = self.inside.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    @property
    def empty(self) -> bool:
        return not self.inside.any()


def _grid(cx: float, cy: float, radius: float, h: int, w: int):
    """Window around (cx, cy) clipped to the image, and its pixel-centre offsets from the centre."""
    y0, y1 = max(0, math.floor(cy - radius)), min(h, math.ceil(cy + radius) + 1)
    x0, x1 = max(0, math.floor(cx - radius)), min(w, math.ceil(cx + radius) + 1)
    dy = (np.arange(y0, max(y0, y1)) + 0.5 - cy)[:, None]
    dx = (np.arange(x0, max(x0, x1)) + 0.5 - cx)[None, :]
    return y0, x0, dy, dx


def turn(t: float) -> tuple[float, float]:
    """(cos, sin) of the angle 2 atan(t), from the rational parametrisation of the circle.

    Exact IEEE arithmetic only, unlike math.cos, whose last bit varies between C libraries.
    """
    return (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t)


def place(points: list[tuple[float, float]], cos: float, sin: float, cx: float, cy: float):
    """(N, 2) array of object-frame (x, y) points turned by (cos, sin), moved to (cx, cy)."""
    return np.array([(cx + cos * x - sin * y, cy + sin * x + cos * y) for x, y in points])


def box(cx: float, cy: float, half_w: float, half_h: float, cos: float, sin: float, h: int, w: int):
    """Rotated rectangle; returns its footprint and corners (top-left, top-right, bottom-right,
    bottom-left in its own frame)."""
    corners = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)]
    y0, x0, dy, dx = _grid(cx, cy, math.sqrt(half_w * half_w + half_h * half_h), h, w)
    u = dx * cos + dy * sin
    v = dy * cos - dx * sin
    inside = (np.abs(u) <= half_w) & (np.abs(v) <= half_h)
    return Footprint(y0, x0, inside), place(corners, cos, sin, cx, cy)


def triangle(vertices: np.ndarray, h: int, w: int) -> Footprint:
    """Filled triangle with (3, 2) image-frame vertices: the inside of all three edges."""
    (ax, ay), (bx, by), (qx, qy) = vertices.tolist()
    cx, cy = (ax + bx + qx) / 3, (ay + by + qy) / 3
    radius = max(abs(ax - cx), abs(ay - cy), abs(bx - cx), abs(by - cy), abs(qx - cx), abs(qy - cy))
    y0, x0, dy, dx = _grid(cx, cy, radius + 1, h, w)
    px, py = dx + cx, dy + cy  # (1, w') and (h', 1) pixel centres
    sign = 1.0 if (bx - ax) * (qy - ay) - (by - ay) * (qx - ax) >= 0 else -1.0
    inside = None
    for (sx, sy), (ex, ey) in (((ax, ay), (bx, by)), ((bx, by), (qx, qy)), ((qx, qy), (ax, ay))):
        a, b = sign * (ex - sx), sign * (ey - sy)
        edge = (a * py - a * sy) - (b * px - b * sx) >= 0  # inside of one edge, (h', w')
        inside = edge if inside is None else inside & edge
    return Footprint(y0, x0, inside)


def disc(cx: float, cy: float, radius: float, h: int, w: int) -> Footprint:
    y0, x0, dy, dx = _grid(cx, cy, radius, h, w)
    return Footprint(y0, x0, dx * dx + dy * dy <= radius * radius)


def ring(cx: float, cy: float, inner: float, outer: float, h: int, w: int) -> Footprint:
    """The annulus inner < distance <= outer: a disc's immediate surroundings."""
    y0, x0, dy, dx = _grid(cx, cy, outer, h, w)
    d2 = dx * dx + dy * dy
    return Footprint(y0, x0, (d2 > inner * inner) & (d2 <= outer * outer))


WIRE_STAMPS = {
    1: np.array([[0, 0]]),
    2: np.array([[0, 0], [0, 1], [1, 0], [1, 1]]),
    3: np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]]),
}
"""Pixel offsets stamped along a wire of width 1, 2 or 3 px (a plus keeps diagonals thin)."""


def curve(points: np.ndarray, width: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (unique, in frame) of a quadratic Bezier with (3, 2) control points."""
    (ax, ay), (bx, by), (qx, qy) = points
    steps = 2 * math.ceil(abs(bx - ax) + abs(by - ay) + abs(qx - bx) + abs(qy - by)) + 2
    t = np.arange(steps + 1) / steps
    s = 1 - t
    x = s * s * ax + 2 * s * t * bx + t * t * qx
    y = s * s * ay + 2 * s * t * by + t * t * qy
    cols = np.floor(x).astype(np.intp)[:, None] + WIRE_STAMPS[width][None, :, 1]
    rows = np.floor(y).astype(np.intp)[:, None] + WIRE_STAMPS[width][None, :, 0]
    keep = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    flat = np.unique(rows[keep] * w + cols[keep])
    return flat // w, flat % w
