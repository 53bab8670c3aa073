"""One synthetic scene: textured ground, objects at every scale, wires, depth and keypoints.

A scene is a ground plane seen from a camera above it, ending at a back wall. Its surface is cut
into regions of four textures (noise, grass, gravel, brick) with the same brightness, contrast
and tint, so only texture separates them. Boxes, triangles and discs (2 px to over half the
image) stand on it, and wires 1-3 px wide run across; everything is painted far to near, so
occlusion agrees with depth. A disc is a ball on grass and a stone elsewhere: same look, label
from context. Each image is a pure function of its own random generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from segnas.data.builtin import shapes
from segnas.data.builtin.settings import CLASS_NAMES, KEYPOINT_NAMES
from segnas.data.builtin.textures import photo_crop, photo_textures, upsample, value_noise
from segnas.data.source import IGNORE_INDEX

BACKGROUND, GRASS, GRAVEL, BRICK, WIRE, BALL, STONE, BOX, TRIANGLE = range(len(CLASS_NAMES))
MAX_TURN = 0.2679491924311227
"""tan(15 degrees): objects turn at most 30 degrees either way (see `shapes.turn`)."""

FIRST_KEYPOINT = {BOX: 0, TRIANGLE: 4, STONE: 7}
"""Where each anchor object's keypoints start in `KEYPOINT_NAMES`."""
ANCHOR_COLOURS = {BOX: (0.92, 0.12, 0.1), TRIANGLE: (0.1, 0.85, 0.15), STONE: (0.12, 0.25, 0.95)}
"""Marked anchors' colours (RGB in [0, 1]): far more saturated than any muted object."""
MUTED = 0.3
"""With marked anchors, other objects keep this fraction of their colour's distance from grey
(channel spread at most 0.27 against the anchors' 0.8 or more)."""


@dataclass(frozen=True)
class Scene:
    """One rendered image with its labels for every task."""

    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    mask: np.ndarray
    """(H, W) uint8 class ids, 255 on discs with ambiguous surroundings."""
    depth: np.ndarray
    """(H, W) float32 metres, float16-exact so a float16 cache loses nothing."""
    keypoints: np.ndarray
    """(K, 3) float32 (x, y, visible) for `KEYPOINT_NAMES`; visible is 0 or 1."""


@dataclass
class _Layer:
    """Something painted over the scene at one depth."""

    depth: float
    label: int
    rows: np.ndarray | slice
    cols: np.ndarray | slice
    inside: np.ndarray | None
    """Bool mask within the window (rows/cols slices), or None for explicit pixel lists."""
    colour: np.ndarray
    """(3,) RGB in [0, 1]."""
    light: tuple[float, float] = (0.0, 0.0)
    """Brightness change per pixel to the right and down from the window centre (shading)."""
    first_keypoint: int | None = None
    """Index into `KEYPOINT_NAMES` of this object's first keypoint, for the anchor objects."""
    points: np.ndarray | None = None
    """(n, 2) keypoints (corners, vertices or centre) in image coordinates."""


def _ground_depth(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(H, W) depth of a tilted ground plane meeting a back wall."""
    horizon = rng.uniform(0.15, 0.45) * h
    tilt = rng.uniform(-0.1, 0.1)
    near, far = rng.uniform(1.5, 3.0), rng.uniform(15.0, 40.0)
    drop = (np.arange(h) + 0.5)[:, None] - (horizon + tilt * (np.arange(w) + 0.5 - w / 2))
    ground = near * (h - horizon) / np.maximum(drop, 1e-3)
    return np.where(drop > 0, np.minimum(ground, far), far)


def _surfaces(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Region map (H, W) of surface classes and its standardised texture (H, W)."""
    cells = int(rng.integers(2, 5))
    fields = rng.uniform(0.0, 1.0, (4, cells, cells)) + rng.uniform(-0.35, 0.35, (4, 1, 1))
    gh, gw = max(2, h // 6), max(2, w // 6)
    wobble = rng.uniform(-0.08, 0.08, (4, gh, gw))  # ragged borders
    scores = upsample(upsample(fields, gh, gw) + wobble, h, w)  # (4, H, W)
    crops = [value_noise(rng, h, w), *(photo_crop(t, rng, h, w) for t in photo_textures())]
    contrast = rng.uniform(0.85, 1.15, 4)
    regions = np.zeros((h, w), np.uint8)
    texture = crops[0] * contrast[0]
    best = scores[0]
    for k in range(1, 4):  # argmax over the four fields, first maximum wins
        wins = scores[k] > best
        best = np.maximum(best, scores[k])
        regions[wins] = k
        np.copyto(texture, crops[k] * contrast[k], where=wins)
    return regions, texture


def disc_label(regions: np.ndarray, cx: float, cy: float, radius: float) -> int:
    """Ball when the ring around the disc is >= 60 % grass, stone when <= 40 %, else ignore."""
    h, w = regions.shape
    around = shapes.ring(cx, cy, radius + 0.5, radius + 1.5 + max(2.0, radius * 0.5), h, w)
    total = int(around.inside.sum())
    if total == 0:
        return IGNORE_INDEX
    grass = int((regions[around.window][around.inside] == GRASS).sum())
    if 5 * grass >= 3 * total:
        return BALL
    if 5 * grass <= 2 * total:
        return STONE
    return IGNORE_INDEX


def _shape(kind: int, u: list[float], extent: float, cx: float, cy: float, h: int, w: int):
    """Footprint and keypoints of a box, triangle or disc; `u` are the object's uniforms."""
    cos, sin = shapes.turn(MAX_TURN * (2 * u[3] - 1))
    aspect, half = 0.45 + 0.55 * u[4], extent / 2
    if kind == BOX:
        sides = (half, half * aspect) if u[5] < 0.5 else (half * aspect, half)
        return shapes.box(cx, cy, sides[0], sides[1], cos, sin, h, w)
    if kind == TRIANGLE:
        base = half * (2 * aspect - 1)
        corners = [((u[5] - 0.5) * half, -half), (-half, base), (half, base)]
        points = shapes.place(corners, cos, sin, cx, cy)
        return shapes.triangle(points, h, w), points
    return shapes.disc(cx, cy, half, h, w), np.array([[cx, cy]])


def _colour(kind: int, anchor: bool, u: list[float], marked: bool) -> np.ndarray:
    """An object's RGB from its uniforms; marked scenes fix the anchors' and mute the rest."""
    colour = np.array([0.05 + 0.9 * c for c in u[6:9]])
    if not marked:
        return colour
    if anchor:
        return np.array(ANCHOR_COLOURS[kind])
    grey = colour.mean()
    return grey + MUTED * (colour - grey)


def _objects(
    rng: np.random.Generator, regions: np.ndarray, ground: np.ndarray, marked: bool = False
) -> list[_Layer]:
    """The anchor box, triangle and disc (keypoint carriers), 2-6 more objects, 2-4 tiny ones."""
    h, w = regions.shape
    side = min(h, w)
    extra, tiny = int(rng.integers(2, 7)), int(rng.integers(2, 5))
    kinds = [BOX, TRIANGLE, STONE, *rng.choice([BOX, TRIANGLE, STONE], extra + tiny).tolist()]
    table = rng.random((len(kinds), 11)).tolist()  # one row of uniforms per object
    layers: list[_Layer] = []
    for n, (kind, u) in enumerate(zip(kinds, table)):
        anchor = n < 3
        if n >= 3 + extra:
            extent = 2 + 2 * u[0]
        else:  # cubed uniform: mostly small, some over half the image
            low = 6.0 if anchor else 2.5
            extent = low + (0.75 * side - low) * (u[0] * u[0] * u[0])
        low_x, low_y = (0.1, 0.1) if anchor else (-0.1, 0.1)
        cx = (low_x + (1 - 2 * low_x) * u[1]) * w
        cy = (low_y + (1 - low_x - low_y) * u[2]) * h
        footprint, points = _shape(kind, u, extent, cx, cy, h, w)
        if footprint.empty:
            continue
        colour = _colour(kind, anchor, u, marked)
        gx, gy = ((0.6 * g - 0.3) / max(extent, 1.0) for g in u[9:11])
        label = disc_label(regions, cx, cy, extent / 2) if kind == STONE else kind
        rows, cols = footprint.window
        depth = float(ground[rows, cols][footprint.inside].min())
        first = FIRST_KEYPOINT[kind] if anchor else None
        layer = _Layer(depth, label, rows, cols, footprint.inside, colour, (gx, gy), first, points)
        layers.append(layer)
    return layers


def _edge_point(edge: int, along: float, h: int, w: int) -> tuple[float, float]:
    """A point just outside image edge 0-3 (left, right, top, bottom), `along` in [0, 1]."""
    if edge < 2:
        return (-1.0 if edge == 0 else w + 1.0), along * h
    return along * w, (-1.0 if edge == 2 else h + 1.0)


def _wires(rng: np.random.Generator, ground: np.ndarray) -> list[_Layer]:
    """0-3 thin curves between two image edges, hung at a depth in front of the ground."""
    h, w = ground.shape
    layers = []
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        start = int(rng.integers(4))
        end = (start + int(rng.integers(1, 4))) % 4
        a = _edge_point(start, rng.uniform(), h, w)
        b = _edge_point(end, rng.uniform(), h, w)
        bend = rng.uniform(-0.3, 0.3, 2) * min(h, w)
        control = np.array([a, ((a[0] + b[0]) / 2 + bend[0], (a[1] + b[1]) / 2 + bend[1]), b])
        rows, cols = shapes.curve(control, int(rng.integers(1, 4)), h, w)
        shade = rng.uniform(0.05, 0.25) if rng.random() < 0.5 else rng.uniform(0.75, 0.95)
        colour = shade * rng.uniform(0.85, 1.15, 3)
        depth = rng.uniform(1.0, 20.0)
        if rows.size:
            depth = min(depth, 0.95 * float(ground[rows, cols].min()))
            layers.append(_Layer(depth, WIRE, rows, cols, None, colour))
    return layers


def _keypoints(layers: list[_Layer], owner: np.ndarray) -> np.ndarray:
    """(K, 3) keypoints; a point is visible when the pixel just inside it shows its object."""
    h, w = owner.shape
    out = np.zeros((len(KEYPOINT_NAMES), 3), dtype=np.float32)
    for index, layer in enumerate(layers):
        if layer.first_keypoint is None:
            continue
        first = layer.first_keypoint
        centre = layer.points.mean(axis=0)
        for k, point in enumerate(layer.points):
            toward = centre - point
            length = math.sqrt(toward[0] * toward[0] + toward[1] * toward[1])
            probe = point + (toward / length if length > 1 else toward)
            x, y = math.floor(probe[0]), math.floor(probe[1])
            seen = 0 <= x < w and 0 <= y < h and owner[y, x] == index
            out[first + k] = (point[0], point[1], float(seen))
    return out


def render_scene(
    rng: np.random.Generator, height: int, width: int, marked_anchors: bool = False
) -> Scene:
    """Draw one scene; every random number comes from `rng`, in a fixed order (the same with
    `marked_anchors`, which only changes objects' colours: see `BuiltinSettings`)."""
    ground = _ground_depth(rng, height, width)
    regions, texture = _surfaces(rng, height, width)
    tint = rng.uniform(0.3, 0.7, 3)
    gain = rng.uniform(0.09, 0.14) * rng.uniform(0.8, 1.2, 3)
    image = tint + texture[:, :, None] * gain  # (H, W, 3)
    mask = regions.copy()
    depth = ground.copy()
    owner = np.full((height, width), -1, dtype=np.int32)
    layers = _objects(rng, regions, ground, marked_anchors) + _wires(rng, ground)
    order = sorted(range(len(layers)), key=lambda i: (-layers[i].depth, i))
    flat = (image.reshape(-1, 3), mask.reshape(-1), depth.reshape(-1), owner.reshape(-1))
    for index in order:
        layer = layers[index]
        if layer.inside is None:  # explicit pixel lists (wires)
            pixels, colour = layer.rows * width + layer.cols, layer.colour
        else:  # a window and a boolean footprint in it
            rows, cols = np.nonzero(layer.inside)
            pixels = (rows + layer.rows.start) * width + (cols + layer.cols.start)
            (hh, ww), (gx, gy) = layer.inside.shape, layer.light
            shade = 1 + gx * (cols - ww / 2) + gy * (rows - hh / 2)
            colour = shade[:, None] * layer.colour
        flat[0][pixels] = colour
        flat[1][pixels], flat[2][pixels], flat[3][pixels] = layer.label, layer.depth, index
    image += rng.uniform(-0.025, 0.025, image.shape)
    pixels = np.floor(np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return Scene(
        image=pixels,
        mask=mask,
        depth=depth.astype(np.float16).astype(np.float32),
        keypoints=_keypoints(layers, owner),
    )
