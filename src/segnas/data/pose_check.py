"""`segnas data check --task pose`: what is wrong with one person instance, and the figures.

Readers keep odd values (visibility 3, NaN, a point off the image, an empty box) instead of
refusing the whole file, so that this check can list every one with its sample and annotation;
training then refuses or skips those samples (`require_clean`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from segnas.data.source import Problem, ProblemKind, Sample

VISIBILITIES = (0.0, 1.0, 2.0)
"""COCO's visibility values: not labelled, labelled but hidden, labelled and visible."""
SHOWN = 5
"""Keypoints listed per problem message; the rest are counted."""


@dataclass
class PoseFacts:
    """Instances, images and labelled / visible keypoints of some samples; `add` merges two."""

    instances: int = 0
    images: set[str] = field(default_factory=set)
    labelled: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """(K,) instances with the keypoint labelled (visibility 1 or 2)."""
    visible: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """(K,) instances with the keypoint visible (visibility 2)."""

    def add(self, other: PoseFacts) -> None:
        self.instances += other.instances
        self.images |= other.images
        if not self.labelled.size:
            self.labelled, self.visible = other.labelled.copy(), other.visible.copy()
        elif other.labelled.shape == self.labelled.shape:
            self.labelled += other.labelled
            self.visible += other.visible

    def to_dict(self, names: Sequence[str]) -> dict[str, Any]:
        counts = zip(names, self.labelled.tolist(), self.visible.tolist())
        return {
            "instances": self.instances,
            "images": len(self.images),
            "keypoints": {
                name: {"labelled": labelled, "visible": visible}
                for name, labelled, visible in counts
            },
        }

    def render(self, console: Console, names: Sequence[str]) -> None:
        """Instances, images and a table of labelled / visible counts per keypoint."""
        table = Table(title=f"keypoints ({self.instances} instances in {len(self.images)} images)")
        for column in ("id", "keypoint", "labelled", "visible"):
            table.add_column(column, justify="left" if column == "keypoint" else "right")
        for k, (name, labelled, visible) in enumerate(
            zip(names, self.labelled.tolist(), self.visible.tolist())
        ):
            table.add_row(str(k), name, str(labelled), str(visible))
        console.print(table)


def _listing(rows: np.ndarray, keypoints: np.ndarray, names: Sequence[str]) -> str:
    """``3 (left_ear) at (12.5, 40) with visibility nan, ...`` for the first `SHOWN` rows."""
    parts = []
    for k in rows[:SHOWN].tolist():
        x, y, v = (float(value) for value in keypoints[k])
        name = f" ({names[k]})" if k < len(names) else ""
        parts.append(f"{k}{name} at ({x:g}, {y:g}) with visibility {v:g}")
    more = len(rows) - SHOWN
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def keypoint_problems(
    keypoints: np.ndarray | None, height: int, width: int, names: Sequence[str]
) -> list[tuple[str, str]]:
    """(kind, message) for keypoints of the wrong shape, visibilities other than 0/1/2 (NaN
    included), labelled points with non-finite coordinates, and labelled points off the image."""
    if keypoints is None:
        return [(ProblemKind.BAD_KEYPOINTS, "sample has no keypoints")]
    count = len(names) or (len(keypoints) if keypoints.ndim == 2 else 0)
    if keypoints.shape != (count, 3):
        message = f"keypoints have shape {keypoints.shape}, expected ({count}, 3) rows of x, y, v"
        return [(ProblemKind.BAD_KEYPOINTS, message)]
    points = np.asarray(keypoints, np.float64)
    x, y, v = points[:, 0], points[:, 1], points[:, 2]
    found = []
    odd = np.flatnonzero(~np.isin(v, VISIBILITIES))  # NaN is never in it
    if odd.size:
        listing = _listing(odd, points, names)
        message = f"visibility not 0, 1 or 2 for keypoint {listing}"
        found.append((ProblemKind.BAD_KEYPOINTS, message))
    labelled = (v == 1) | (v == 2)
    broken = np.flatnonzero(labelled & ~(np.isfinite(x) & np.isfinite(y)))
    if broken.size:
        listing = _listing(broken, points, names)
        message = f"labelled keypoint with non-finite coordinates: {listing}"
        found.append((ProblemKind.BAD_KEYPOINTS, message))
    with np.errstate(invalid="ignore"):
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    outside = np.flatnonzero(labelled & np.isfinite(x) & np.isfinite(y) & ~inside)
    if outside.size:
        listing = _listing(outside, points, names)
        message = (
            f"labelled keypoint outside the {width}x{height} (WxH) image, expected "
            f"0 <= x < {width} and 0 <= y < {height}: {listing}"
        )
        found.append((ProblemKind.KEYPOINT_OUTSIDE, message))
    return found


def box_problem(box: np.ndarray | None) -> str | None:
    """Why an (x, y, w, h) person box is unusable, or None (no box means the whole image)."""
    if box is None:
        return None
    values = np.asarray(box, np.float64)
    if values.shape != (4,):
        return f"box has shape {values.shape}, expected (4,) = x, y, w, h"
    shown = ", ".join(f"{value:g}" for value in values.tolist())
    if not np.isfinite(values).all():
        return f"box (x, y, w, h) = ({shown}) holds non-finite values"
    if values[2] <= 0 or values[3] <= 0:
        return f"box (x, y, w, h) = ({shown}) has zero or negative area, expected w > 0 and h > 0"
    return None


def inspect_pose(
    sample: Sample, files: tuple[str, ...], names: Sequence[str]
) -> tuple[list[Problem], PoseFacts]:
    """Problems of one instance (tied to its annotation, `files[-1]`) and its figures."""
    where, height, width = files[-1], *sample.image.shape[:2]
    found = keypoint_problems(sample.keypoints, height, width, names)
    bad_box = box_problem(sample.box)
    if bad_box is not None:
        found.append((ProblemKind.BAD_BOX, bad_box))
    problems = [Problem(where, kind, message, sample.id) for kind, message in found]
    facts = PoseFacts(1, {sample.image_id or sample.id})
    keypoints = sample.keypoints
    if keypoints is not None and keypoints.shape == (len(names), 3):
        v = np.asarray(keypoints[:, 2], np.float64)
        facts.labelled = ((v == 1) | (v == 2)).astype(np.int64)
        facts.visible = (v == 2).astype(np.int64)
    return problems, facts
