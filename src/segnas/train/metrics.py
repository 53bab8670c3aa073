"""Segmentation metrics from a confusion matrix, and the search reward that ranks candidates."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255
) -> torch.Tensor:
    """(K, K) int64 counts, rows = true class, columns = predicted; ignored pixels dropped."""
    keep = target != ignore_index
    target = target[keep].long()
    pred = pred[keep].long()
    if target.numel() and int(target.max()) >= num_classes:
        raise ValueError(
            f"label {int(target.max())} >= num_classes {num_classes} (and not {ignore_index})"
        )
    index = target * num_classes + pred
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


@dataclass(frozen=True)
class SegMetrics:
    """The usual figures; per-class IoU is NaN for a class neither present nor predicted."""

    per_class_iou: list[float]
    mean_iou: float
    fw_iou: float
    mean_accuracy: float
    pixel_accuracy: float

    def to_dict(self) -> dict:
        return asdict(self)


def _safe_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / b.clamp(min=1), torch.full_like(a, float("nan")))


def metrics_from_confusion(cm: torch.Tensor) -> SegMetrics:
    """mIoU, frequency-weighted IoU, mean class accuracy and pixel accuracy over all classes.

    Classes absent from the labels do not enter the means (their IoU would say nothing about
    how well they are recognised); a class absent but predicted still costs the true classes
    of those pixels through their recall.
    """
    cm = cm.double()
    tp = cm.diag()
    per_label = cm.sum(1)
    per_pred = cm.sum(0)
    iou = _safe_div(tp, per_label + per_pred - tp)
    present = per_label > 0
    total = per_label.sum()
    if not bool(present.any()):
        nan = float("nan")
        return SegMetrics(iou.tolist(), nan, nan, nan, nan)
    freq = per_label / total
    return SegMetrics(
        per_class_iou=iou.tolist(),
        mean_iou=float(iou[present].mean()),
        fw_iou=float((freq[present] * iou[present]).sum() / freq[present].sum()),
        mean_accuracy=float((tp[present] / per_label[present]).mean()),
        pixel_accuracy=float(tp.sum() / total),
    )


def reward_from_confusion(cm: torch.Tensor, background: int | None = 0) -> float:
    """Geometric mean of mIoU, fwIoU and mean class accuracy over present non-background classes.

    Every term lies in [0, 1], so the reward does too; 0 when no foreground class is present.
    """
    keep = torch.ones(cm.shape[0], dtype=torch.bool)
    if background is not None:
        keep[background] = False
    cm = cm.double()
    tp = cm.diag()
    per_label = cm.sum(1)
    union = per_label + cm.sum(0) - tp
    considered = keep & (per_label > 0)
    if not bool(considered.any()):
        return 0.0
    iou = tp[considered] / union[considered]
    freq = per_label[considered]
    terms = (
        float(iou.mean()),
        float((freq * iou).sum() / freq.sum()),
        float((tp[considered] / freq).mean()),
    )
    return math.prod(terms) ** (1 / 3)
