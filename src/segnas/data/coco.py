"""COCO keypoints: ``coco:ROOT`` with ``--task pose`` (and ``--split train|val``).

Reads ``ROOT/annotations/person_keypoints_{split}2017.json`` and the images in
``ROOT/{split}2017/``. Every person annotation with ``num_keypoints > 0`` that is not a crowd
becomes one sample (id = the annotation id) with its ground-truth box and segment area. Keypoint
names come from the person category (the 17 COCO keypoints when the file has no categories);
flip pairs are COCO's, or the ``left_``/``right_`` pairs of other names.

Coordinates: COCO boxes and areas are continuous, the image spanning [0, W] x [0, H], as in
segnas. COCO keypoints are integer pixel indices (the annotator clicked a pixel), so, as
detectron2 does, a labelled keypoint's centre is ``index + 0.5`` (`KEYPOINT_OFFSET`); subtract
it again when writing predictions for the official evaluation. Unlabelled keypoints
(visibility 0) are stored as (0, 0, 0). Visibility values other than 0, 1 and 2 are kept, for
`segnas data check` to report with their annotation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from segnas.data.pose import (
    COCO_FLIP_PAIRS,
    COCO_KEYPOINT_NAMES,
    check_pose_classes,
    flip_pairs_from_names,
)
from segnas.data.pose_instances import InstanceSource, PoseInstance, unique_ids
from segnas.data.pose_json import (
    FieldError,
    entry_list,
    field,
    identifier,
    integer,
    load_json,
    number,
    numbers,
    text,
)
from segnas.data.source import DatasetError, Problem, ProblemKind

KEYPOINT_OFFSET = 0.5
"""Added to COCO's integer keypoint pixel indices to get segnas' continuous coordinates."""
EXPECTED = (
    "COCO 2017 keypoints: ROOT/annotations/person_keypoints_{split}2017.json with images, "
    "annotations and categories, and the images in ROOT/{split}2017/"
)


def coco_keypoints(values: list[float], count: int) -> np.ndarray:
    """(K, 3) float32 rows from COCO's flat [x1, y1, v1, ...]: labelled points (v != 0) moved
    to pixel centres (+0.5), unlabelled ones set to (0, 0, 0)."""
    points = np.array(values, dtype=np.float64).reshape(count, 3)
    labelled = points[:, 2] != 0
    points[labelled, :2] += KEYPOINT_OFFSET
    points[~labelled] = 0.0
    return points.astype(np.float32)


def _person(data: Any, path: Path) -> tuple[int | None, tuple[str, ...]]:
    """The person category's id (None: every annotation is a person) and keypoint names."""
    if not isinstance(data, Mapping) or "categories" not in data:
        return None, COCO_KEYPOINT_NAMES
    persons = [
        c
        for c in entry_list(data, "categories", path, EXPECTED)
        if isinstance(c, Mapping) and c.get("name") == "person"
    ]
    if len(persons) != 1:
        raise DatasetError(
            f"{path}: {len(persons)} categories named 'person', expected one; expected {EXPECTED}",
            path=str(path),
        )
    person = persons[0]
    try:
        category = integer(field(person, "id"), "id")
        raw = person.get("keypoints", list(COCO_KEYPOINT_NAMES))
        if not isinstance(raw, list) or not raw:
            raise FieldError(f"field 'keypoints' is {raw!r}, expected a list of keypoint names")
        names = tuple(text(name, f"keypoints[{k}]") for k, name in enumerate(raw))
    except FieldError as err:
        raise DatasetError(
            f"{path}: category 'person': {err}; expected {EXPECTED}", path=str(path)
        ) from err
    if len(set(names)) != len(names):
        raise DatasetError(f"{path}: category 'person' repeats keypoint names", path=str(path))
    return category, names


def _images(data: Any, path: Path, folder: Path, problems: list[Problem]) -> dict[str, Path]:
    """Image id -> file, from the ``images`` entries; malformed or repeated entries are
    reported and left out."""
    files: dict[str, Path] = {}
    for index, entry in enumerate(entry_list(data, "images", path, EXPECTED)):
        where = f"{path}#images[{index}]"
        try:
            image_id = identifier(field(entry, "id"), "id")
            name = text(field(entry, "file_name"), "file_name")
        except FieldError as err:
            problems.append(Problem(where, ProblemKind.BAD_ANNOTATION, f"image entry: {err}"))
            continue
        if image_id in files:
            message = f"image id {image_id} repeats; entry dropped"
            problems.append(Problem(where, ProblemKind.BAD_ANNOTATION, message))
            continue
        files[image_id] = folder / name
    return files


def _instance(
    entry: Any,
    where: str,
    category: int | None,
    names: tuple[str, ...],
    images: dict[str, Path],
) -> PoseInstance | None:
    """The annotation as an instance; None for the ones skipped (other categories, crowds,
    no labelled keypoints). A malformed field raises `FieldError`."""
    if category is not None and integer(field(entry, "category_id"), "category_id") != category:
        return None
    if (
        integer(entry.get("iscrowd", 0), "iscrowd")
        or integer(field(entry, "num_keypoints"), "num_keypoints") <= 0
    ):
        return None
    image_id = identifier(field(entry, "image_id"), "image_id")
    if image_id not in images:
        raise FieldError(f"field 'image_id' is {image_id}, which no entry of 'images' has")
    count = len(names)
    values = numbers(field(entry, "keypoints"), "keypoints", 3 * count, f"3 x {count} keypoints")
    box = numbers(field(entry, "bbox"), "bbox", 4, "x, y, width, height")
    return PoseInstance(
        id=identifier(field(entry, "id"), "id"),
        image_id=image_id,
        image=images[image_id],
        keypoints=coco_keypoints(values, count),
        box=np.array(box, np.float32),
        area=number(field(entry, "area"), "area"),
        head_size=None,
        where=where,
    )


def read_coco(
    path: Path, folder: Path
) -> tuple[tuple[str, ...], list[PoseInstance], list[Problem]]:
    """Keypoint names, person instances and the problems of one keypoints file whose images
    live in `folder`."""
    data = load_json(path, EXPECTED)
    category, names = _person(data, path)
    problems: list[Problem] = []
    images = _images(data, path, folder, problems)
    instances = []
    for index, entry in enumerate(entry_list(data, "annotations", path, EXPECTED)):
        where = f"{path}#annotations[{index}]"
        try:
            instance = _instance(entry, where, category, names, images)
        except FieldError as err:
            label = entry.get("id") if isinstance(entry, Mapping) else None
            who = f"annotation id {label}" if label is not None else "annotation without an id"
            message = f"{who}: {err}; annotation dropped"
            problems.append(Problem(where, ProblemKind.BAD_ANNOTATION, message))
            continue
        if instance is not None:
            instances.append(instance)
    return names, unique_ids(instances, problems), problems


def open_coco(root: Path, split: str = "train", num_classes: int | None = None) -> InstanceSource:
    """One split of COCO keypoints; the annotation file is read now, so that a missing or
    malformed one fails before training, and each bad annotation is listed."""
    path = root / "annotations" / f"person_keypoints_{split}2017.json"
    folder = root / f"{split}2017"
    if not folder.is_dir():
        raise DatasetError(f"coco:{root}: no folder {folder}; expected {EXPECTED}", path=str(root))
    names, instances, problems = read_coco(path, folder)
    check_pose_classes(num_classes, len(names), f"coco:{root}")
    pairs = COCO_FLIP_PAIRS if names == COCO_KEYPOINT_NAMES else flip_pairs_from_names(names)
    return InstanceSource(
        name="coco",
        split=split,
        root=root,
        annotation_file=path,
        instances=instances,
        keypoint_names=names,
        flip_pairs=pairs,
        index_problems=problems,
    )
