"""Pose figures of a trained model: person crops by the training rule on the ground-truth boxes,
optional flip testing, keypoints mapped back to the image, then PCKh (MPII style: per joint,
@0.5 and @0.1, the paper's Table 7 columns for MPII) and COCO keypoint AP/AR (pycocotools).

The paper evaluated COCO on a person detector's boxes; segnas uses the ground-truth boxes (the
report says so), so its AP is the keypoint estimator's alone, higher than with detections.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from segnas.data.pose_transforms import PoseEvalTransform
from segnas.data.source import SegmentationSource
from segnas.tasks.base import finite_or_none
from segnas.tasks.pose import PoseTask
from segnas.tasks.pose_heatmaps import decode_heatmaps, flip_heatmaps, to_image_coordinates
from segnas.tasks.pose_metrics import (
    MPII_MEAN_JOINTS,
    MPII_TABLE_COLUMNS,
    coco_keypoint_ap,
    mpii_table,
    pckh,
)
from segnas.train.stages import main_logits

BOXES = "ground truth"
"""Which person boxes the crops come from (the paper's COCO figures used detections)."""


def pose_input_size(meta: Any) -> int:
    """The crop side a pose model file was trained on (its training settings); 64 when the
    file does not say."""
    return int((meta.info.get("train_config") or {}).get("crop_size") or 64)


@dataclass
class PoseEvalReport:
    """What `segnas eval` reports for a pose model."""

    metrics: dict[str, Any]
    images: int
    """Person instances scored."""
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "images": self.images,
            "seconds": self.seconds,
            "boxes": BOXES,
            "notes": self.notes,
        }


@torch.inference_mode()
def predict_heatmaps(
    net: nn.Module, images: torch.Tensor, task: PoseTask, flip: bool = False
) -> torch.Tensor:
    """(B, K, h, w) heatmaps of normalised (B, 3, H, W) crops at the task's stride; with `flip`,
    averaged with the mirrored input's (mirrored back, left/right joints swapped)."""
    size = tuple(images.shape[-2:])
    maps = task.heatmaps(main_logits(net(images)).float(), size)
    if flip:
        mirrored = task.heatmaps(main_logits(net(images.flip(-1))).float(), size)
        maps = (maps + flip_heatmaps(mirrored, task.settings.flip_pairs)) / 2
    return maps


def _instances(source: SegmentationSource, transform: PoseEvalTransform, batch_size: int):
    """Batches of (crop tensors, affines, samples) in source order."""
    images, affines, samples = [], [], []
    for i in range(len(source)):
        sample = source[i]
        image, _ = transform(sample)
        images.append(image)
        affines.append(transform.affine(sample))
        samples.append(sample)
        if len(images) == batch_size or i == len(source) - 1:
            yield torch.stack(images), np.stack(affines), samples
            images, affines, samples = [], [], []


def evaluate_pose(
    net: nn.Module,
    source: SegmentationSource,
    task: PoseTask,
    input_size: int | Sequence[int],
    *,
    flip: bool = False,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    on_batch: Callable[[int], None] | None = None,
) -> PoseEvalReport:
    """Every instance of `source` cropped to `input_size` on its ground-truth box, predicted
    (and flipped), mapped back to the image and scored: PCKh where head sizes are known, COCO
    AP/AR where areas are, the MPII table for MPII."""
    start = time.perf_counter()
    device = torch.device(device)
    net.eval().to(device)
    s = task.settings
    transform = PoseEvalTransform(input_size, s.flip_pairs, aspect=s.aspect)
    preds, scores, samples = [], [], []
    for images, affines, batch in _instances(source, transform, batch_size):
        maps = predict_heatmaps(net, images.to(device), task, flip)
        coords, peaks = decode_heatmaps(maps.cpu(), s.stride)
        preds.append(to_image_coordinates(coords, affines))
        scores.append(peaks.numpy())
        samples += batch
        if on_batch is not None:
            on_batch(len(batch))
    pred = np.concatenate(preds) if preds else np.zeros((0, s.num_keypoints, 2))
    peak = np.concatenate(scores) if scores else np.zeros((0, s.num_keypoints))
    metrics = _figures(pred, peak, samples, task, source.name)
    return PoseEvalReport(metrics, len(samples), time.perf_counter() - start)


def _figures(
    pred: np.ndarray,
    peak: np.ndarray,
    samples: list[Any],
    task: PoseTask,
    dataset: str,
) -> dict[str, Any]:
    gt = np.stack([s.keypoints for s in samples]) if samples else np.zeros((0, 1, 3))
    out: dict[str, Any] = {"boxes": BOXES}
    heads = [i for i, s in enumerate(samples) if s.head_size]
    if heads:
        sizes = np.array([samples[i].head_size for i in heads])
        mean_joints = MPII_MEAN_JOINTS if dataset == "mpii" else None
        half = pckh(pred[heads], gt[heads], sizes, task.settings.threshold, mean_joints)
        tenth = pckh(pred[heads], gt[heads], sizes, 0.1, mean_joints)
        out["pckh"] = finite_or_none(half.mean)
        out["pckh_0.1"] = finite_or_none(tenth.mean)
        out["per_joint_pckh"] = [finite_or_none(v) for v in half.per_joint]
        if dataset == "mpii":
            table = mpii_table(half, tenth, MPII_TABLE_COLUMNS)
            out["mpii_table"] = {k: finite_or_none(v) for k, v in table.items()}
    with_area = [i for i, s in enumerate(samples) if s.area]
    if with_area:  # COCOeval groups persons by an integer image id
        keys = [s.image_id or s.id for s in samples]
        number = {k: n for n, k in enumerate(dict.fromkeys(keys), start=1)}
        ground_truth = [
            {
                "image_id": number[keys[i]],
                "keypoints": samples[i].keypoints,
                "bbox": [float(v) for v in samples[i].box],
                "area": float(samples[i].area),
            }
            for i in with_area
        ]
        predictions = [
            {
                "image_id": number[keys[i]],
                "keypoints": np.concatenate([pred[i], peak[i][:, None]], axis=1),
                "score": float(np.mean(peak[i])),
            }
            for i in with_area
        ]
        ap = coco_keypoint_ap(predictions, ground_truth, task.settings.sigmas())
        out["coco"] = {k: finite_or_none(v) for k, v in ap.items()}
    return out
