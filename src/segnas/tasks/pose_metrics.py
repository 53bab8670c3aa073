"""Pose figures: MPII's PCKh (per joint, the paper's Table 7 layout) and COCO's OKS, AP and AR.

PCKh follows the MPII evaluation code (as HRNet ships it); OKS, AP and AR are pycocotools'
own (`COCOeval(iouType="keypoints")`), run on in-memory COCO objects, so figures match the
published ones. Keypoints are (x, y, visibility) rows in pixels; a ground-truth joint counts
where its third column is > 0 (MPII: annotated, whether or not occluded).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from contextlib import redirect_stdout
from typing import Any, NamedTuple

import numpy as np

from segnas.data.mpii import SC_BIAS
from segnas.data.pose import COCO_SIGMAS, MPII_KEYPOINT_NAMES

MPII_JOINT_NAMES = MPII_KEYPOINT_NAMES
"""MPII's 16 joints in the dataset's (and the evaluation code's) order."""
MPII_TABLE_COLUMNS: dict[str, tuple[int, ...]] = {
    "Head": (9,),
    "Shoulder": (12, 13),
    "Elbow": (11, 14),
    "Wrist": (10, 15),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
"""Table columns -> MPII joint indices whose PCKh they average (left and right)."""
MPII_MEAN_JOINTS = tuple(i for i in range(16) if i not in (6, 7))
"""Joints in MPII's "Mean": all but pelvis and thorax, as the evaluation code masks them."""
MPII_SC_BIAS = SC_BIAS
"""MPII's head size is this times the diagonal of the annotated head box."""
COCO_STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
"""`coco_keypoint_ap`'s keys, in the order of COCOeval's keypoint `stats`."""


class Pckh(NamedTuple):
    """PCKh at one threshold."""

    per_joint: np.ndarray
    """(K,) share of counted joints within the threshold; NaN for a joint never visible."""
    counts: np.ndarray
    """(K,) ground-truth joints counted (visible)."""
    mean: float
    """Correct / counted over the mean's joints: the per-joint figures weighted by counts, as
    MPII's "Mean"; NaN when none is counted."""


def pckh(
    pred: np.ndarray,
    gt: np.ndarray,
    head_sizes: np.ndarray,
    threshold: float = 0.5,
    mean_joints: Sequence[int] | None = None,
) -> Pckh:
    """PCKh of (N, K, 2) predictions against (N, K, 3) ground truth, MPII style.

    A visible ground-truth joint is correct when its distance / head size <= `threshold`
    (0.5: PCKh@0.5, 0.1: PCKh@0.1). `head_sizes` (N,) are taken as given: for MPII the data side
    computes `MPII_SC_BIAS` x the head box diagonal, as the MPII evaluation code does.
    `mean_joints`: the joints the mean covers (None: all; MPII: `MPII_MEAN_JOINTS`).
    """
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    sizes = np.asarray(head_sizes, dtype=np.float64).reshape(-1, 1)
    visible = gt[..., 2] > 0
    dist = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        correct = visible & (dist / sizes <= threshold)
    counts, hits = visible.sum(axis=0), correct.sum(axis=0)
    per_joint = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    chosen = list(range(gt.shape[-2])) if mean_joints is None else list(mean_joints)
    total = counts[chosen].sum()
    mean = float(hits[chosen].sum() / total) if total else math.nan
    return Pckh(per_joint, counts, mean)


def mpii_table(
    at_half: Pckh,
    at_tenth: Pckh,
    columns: Mapping[str, Sequence[int]] = MPII_TABLE_COLUMNS,
) -> dict[str, float]:
    """The paper's Table 7 row: each column the plain average of its joints' PCKh@0.5 (left
    and right, as MPII's code does; NaN if either is), then "Mean" (PCKh@0.5) and "Mean@0.1"
    from the two results' means. Fractions in [0, 1]; the paper prints percentages."""
    row = {name: float(np.mean(at_half.per_joint[list(idx)])) for name, idx in columns.items()}
    row["Mean"] = at_half.mean
    row["Mean@0.1"] = at_tenth.mean
    return row


def oks(
    pred: np.ndarray,
    gt: np.ndarray,
    area: float,
    sigmas: Sequence[float] = COCO_SIGMAS,
    bbox: Sequence[float] | None = None,
) -> float:
    """Object keypoint similarity of one (K, 2) or (K, 3) prediction with one (K, 3) ground
    truth of `area`, exactly as pycocotools' `COCOeval.computeOks`: variances (2 sigma)^2,
    e = d^2 / var / (area + eps) / 2, the mean of exp(-e) over labelled joints. A ground truth
    without labelled joints instead measures each joint's distance outside its `bbox`
    [x, y, w, h] doubled about the box (1 box width/height beyond each side), over all joints.
    """
    d = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    xd, yd = d[:, 0], d[:, 1]
    labelled = g[:, 2] > 0
    if labelled.any():
        dx, dy = xd - g[:, 0], yd - g[:, 1]
    else:
        if bbox is None:
            raise ValueError("a ground truth without labelled joints needs its bbox")
        bx, by, bw, bh = (float(b) for b in bbox)
        x0, x1, y0, y1 = bx - bw, bx + bw * 2, by - bh, by + bh * 2
        z = np.zeros(len(variances))
        dx = np.max((z, x0 - xd), axis=0) + np.max((z, xd - x1), axis=0)
        dy = np.max((z, y0 - yd), axis=0) + np.max((z, yd - y1), axis=0)
    e = (dx**2 + dy**2) / variances / (area + np.spacing(1)) / 2
    if labelled.any():
        e = e[labelled]
    return float(np.sum(np.exp(-e)) / e.shape[0])


def _keypoint_rows(keypoints: Any, num_joints: int, what: str) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[0] != num_joints or kp.shape[1] not in (2, 3):
        raise ValueError(f"{what} keypoints must be ({num_joints}, 3), got shape {kp.shape}")
    if kp.shape[1] == 2:
        kp = np.concatenate([kp, np.ones((num_joints, 1))], axis=1)
    return kp


def _coco_datasets(
    predictions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    num_joints: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ground-truth dataset dict and the result list pycocotools reads."""
    image_ids = {int(g["image_id"]) for g in ground_truth}
    image_ids |= {int(p["image_id"]) for p in predictions}
    annotations = []
    for ann_id, g in enumerate(ground_truth, start=1):  # id 0 would read as "unmatched"
        kp = _keypoint_rows(g["keypoints"], num_joints, "ground-truth")
        annotations.append(
            {
                "id": ann_id,
                "image_id": int(g["image_id"]),
                "category_id": 1,
                "keypoints": kp.ravel().tolist(),
                "num_keypoints": int((kp[:, 2] > 0).sum()),
                "bbox": [float(b) for b in g["bbox"]],
                "area": float(g["area"]),
                "iscrowd": int(g.get("iscrowd", 0)),
            }
        )
    dataset = {
        "images": [{"id": i} for i in sorted(image_ids)],
        "categories": [
            {"id": 1, "name": "person", "keypoints": [str(k) for k in range(num_joints)]}
        ],
        "annotations": annotations,
    }
    results = [
        {
            "image_id": int(p["image_id"]),
            "category_id": 1,
            "keypoints": _keypoint_rows(p["keypoints"], num_joints, "predicted").ravel().tolist(),
            "score": float(p["score"]),
        }
        for p in predictions
    ]
    return dataset, results


def coco_keypoint_ap(
    predictions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    sigmas: Sequence[float] | None = None,
) -> dict[str, float]:
    """COCO keypoint AP and AR (`COCO_STAT_NAMES`) by pycocotools' COCOeval, for any K.

    ground_truth: one dict per person: image_id, keypoints (K, 3), bbox [x, y, w, h], area,
    optionally iscrowd; persons without labelled joints are ignored, as in COCO.
    predictions: one dict per person: image_id, keypoints (K, 3) (third column a per-joint
    score, unused by the evaluation) or (K, 2), and score (ranks detections).
    sigmas: per-joint OKS sigmas (None: `COCO_SIGMAS`, K = 17). Images are those either list
    names. pycocotools' -1 (no ground truth in an area range) becomes NaN.
    """
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as error:
        raise ImportError(
            "COCO keypoint AP needs pycocotools: pip install 'segnas[pose]'"
        ) from error
    sigma_values = np.asarray(COCO_SIGMAS if sigmas is None else sigmas, dtype=np.float64)
    dataset, results = _coco_datasets(predictions, ground_truth, len(sigma_values))
    with redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:  # loadRes cannot take an empty list
            coco_dt = COCO()
            coco_dt.dataset = {**dataset, "annotations": []}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = sigma_values
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {
        name: math.nan if value < 0 else float(value)
        for name, value in zip(COCO_STAT_NAMES, evaluator.stats)
    }
