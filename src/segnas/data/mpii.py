"""MPII Human Pose in the JSON conversion of HRNet / mmpose: ``mpii:ROOT`` with ``--task pose``.

``ROOT/annot/{split}.json`` (for ``val`` also HRNet's name ``valid.json``) is a list of person
records ``{"image": NAME, "center": [x, y], "scale": s, "joints": [[x, y] x 16],
"joints_vis": [0/1 x 16]}``; images are ``ROOT/images/NAME``. Sample ids are the records'
positions in the list (``000042``), so two people of one image stay two samples.

Coordinates: MPII (a MATLAB annotation) uses 1-based pixel coordinates, pixel 1 spanning
[0.5, 1.5); segnas' pixel 0 spans [0, 1), so every x and y (joints and centre) becomes
``value - 0.5`` (`MPII_OFFSET`). HRNet subtracts 1 instead because its pixel centres sit at
whole numbers; both describe the same point. Joints with ``joints_vis`` 0 are stored as
(0, 0, 0); labelled ones get visibility 2 (the JSON does not say which are occluded).

Box: ``scale * 200`` is the person's height in pixels. As HRNet does, the centre moves down by
``15 * scale`` pixels (so that feet are not cut off), and the box is the square of side
``200 * scale`` around it; the pose transforms' 1.25 padding then gives HRNet's crop of side
``250 * scale``. MPII has no segment areas (`area` is None; OKS does not apply).

Head size (PCKh): the HRNet JSON has no head boxes; MPII's evaluation takes them from
``gt_valid.mat``. When ``ROOT/annot/{split}_headboxes.json`` exists (``{"INDEX": [x1, y1, x2,
y2]}``, INDEX the record's position, in the same 1-based pixels) every record needs one, and
`head_size` is 0.6 x its diagonal (MPII's SC_BIAS); otherwise `head_size` is None and PCKh
cannot be computed (converting ``gt_valid.mat`` into that file is left to the user).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from segnas.data.pose import MPII_FLIP_PAIRS, MPII_KEYPOINT_NAMES, check_pose_classes
from segnas.data.pose_instances import InstanceSource, PoseInstance, unique_ids
from segnas.data.pose_json import (
    FieldError,
    entry_list,
    field,
    finite,
    load_json,
    numbers,
    text,
)
from segnas.data.source import DatasetError, Problem, ProblemKind

MPII_OFFSET = -0.5
"""Added to MPII's 1-based pixel coordinates to get segnas' (pixel 0 spanning [0, 1))."""
PIXEL_STD = 200.0
"""MPII's ``scale`` unit: ``scale * 200`` pixels is the person's height."""
CENTRE_SHIFT = 15.0
"""HRNet moves the centre down by ``15 * scale`` pixels before cropping."""
SC_BIAS = 0.6
"""MPII's PCKh head size: 0.6 x the head box diagonal."""
JOINTS = len(MPII_KEYPOINT_NAMES)
EXPECTED = (
    "MPII in HRNet's JSON: ROOT/annot/{split}.json, a list of {image, center, scale, joints "
    "(16 [x, y]), joints_vis (16 of 0/1)}, and the images in ROOT/images/"
)


def mpii_joints(joints: list[Any], visible: list[float]) -> np.ndarray:
    """(16, 3) float32 from 16 [x, y] pairs (1-based pixels) and their 0/1 flags."""
    points = np.zeros((JOINTS, 3), np.float64)
    for k, pair in enumerate(joints):
        x, y = numbers(pair, f"joints[{k}]", 2, "x, y")
        if visible[k] != 0:
            points[k] = (x + MPII_OFFSET, y + MPII_OFFSET, 2.0 if visible[k] == 1 else visible[k])
    return points.astype(np.float32)


def mpii_box(centre: list[float], scale: float) -> np.ndarray:
    """(x, y, w, h) float32: the square of side 200 * scale around HRNet's shifted centre."""
    side = PIXEL_STD * scale
    cx = centre[0] + MPII_OFFSET
    cy = centre[1] + MPII_OFFSET + CENTRE_SHIFT * scale
    return np.array([cx - side / 2, cy - side / 2, side, side], np.float32)


def head_size(box: list[float]) -> float:
    """PCKh's unit of one head box [x1, y1, x2, y2]: SC_BIAS x its diagonal."""
    return SC_BIAS * math.hypot(box[2] - box[0], box[3] - box[1])


def _record(
    entry: Any, index: int, where: str, folder: Path, heads: dict[str, Any] | None
) -> PoseInstance:
    name = text(field(entry, "image"), "image")
    centre = numbers(field(entry, "center"), "center", 2, "x, y")
    scale = finite(field(entry, "scale"), "scale")
    if scale <= 0:
        raise FieldError(f"field 'scale' is {scale}, expected > 0 (person height / 200)")
    joints = field(entry, "joints")
    if not isinstance(joints, list) or len(joints) != JOINTS:
        shown = len(joints) if isinstance(joints, list) else type(joints).__name__
        raise FieldError(f"field 'joints' has {shown} entries, expected {JOINTS} [x, y] pairs")
    visible = numbers(field(entry, "joints_vis"), "joints_vis", JOINTS, f"{JOINTS} flags of 0/1")
    size = None
    if heads is not None:
        if str(index) not in heads:
            raise FieldError(f"no head box under key {str(index)!r} of the head box file")
        size = head_size(numbers(heads[str(index)], f"head box {index}", 4, "x1, y1, x2, y2"))
    return PoseInstance(
        id=f"{index:06d}",
        image_id=name,
        image=folder / name,
        keypoints=mpii_joints(joints, visible),
        box=mpii_box(centre, scale),
        area=None,
        head_size=size,
        where=where,
    )


def annotation_file(root: Path, split: str) -> Path:
    """``annot/{split}.json``, or HRNet's ``annot/valid.json`` for ``val`` when only it exists."""
    path = root / "annot" / f"{split}.json"
    hrnet = root / "annot" / "valid.json"
    if split == "val" and not path.exists() and hrnet.exists():
        return hrnet
    return path


def _head_boxes(path: Path) -> dict[str, Any] | None:
    """The head box file beside `path` (``{stem}_headboxes.json``), None when there is none."""
    heads_path = path.with_name(f"{path.stem}_headboxes.json")
    if not heads_path.exists():
        return None
    heads = load_json(heads_path, "an object {record index: [x1, y1, x2, y2]}")
    if not isinstance(heads, Mapping):
        raise DatasetError(
            f"{heads_path}: expected an object {{record index: [x1, y1, x2, y2]}}",
            path=str(heads_path),
        )
    return dict(heads)


def read_mpii(path: Path, folder: Path) -> tuple[list[PoseInstance], list[Problem]]:
    """Person records of one HRNet MPII file (images in `folder`) and the problems found."""
    records = entry_list(load_json(path, EXPECTED), None, path, EXPECTED)
    heads = _head_boxes(path)
    problems: list[Problem] = []
    instances = []
    for index, entry in enumerate(records):
        where = f"{path}#[{index}]"
        try:
            instances.append(_record(entry, index, where, folder, heads))
        except FieldError as err:
            image = entry.get("image") if isinstance(entry, Mapping) else None
            who = f"record {index}" + (f" (image {image!r})" if isinstance(image, str) else "")
            message = f"{who}: {err}; record dropped"
            problems.append(Problem(where, ProblemKind.BAD_ANNOTATION, message))
    return unique_ids(instances, problems), problems


def open_mpii(root: Path, split: str = "train", num_classes: int | None = None) -> InstanceSource:
    """One split of MPII; the JSON is read now, so that errors appear before training."""
    check_pose_classes(num_classes, JOINTS, f"mpii:{root}")
    folder = root / "images"
    if not folder.is_dir():
        raise DatasetError(f"mpii:{root}: no folder {folder}; expected {EXPECTED}", path=str(root))
    path = annotation_file(root, split)
    instances, problems = read_mpii(path, folder)
    return InstanceSource(
        name="mpii",
        split=split,
        root=root,
        annotation_file=path,
        instances=instances,
        keypoint_names=MPII_KEYPOINT_NAMES,
        flip_pairs=MPII_FLIP_PAIRS,
        index_problems=problems,
    )
