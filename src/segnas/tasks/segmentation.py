"""Semantic segmentation: K class logits, cross-entropy, a confusion matrix, mIoU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from segnas.data.source import IGNORE_INDEX
from segnas.tasks.base import Task, finite_or_none
from segnas.train.losses import segmentation_loss, upsample_to
from segnas.train.metrics import confusion_matrix, metrics_from_confusion, reward_from_confusion


@dataclass(frozen=True)
class SegmentationTask(Task):
    """Class ids per pixel; the reward is the geometric mean of mIoU, fwIoU and mean accuracy
    over the non-background classes (`reward_from_confusion`)."""

    num_classes: int
    background: int | None = 0
    ignore_index: int = IGNORE_INDEX

    name: ClassVar[str] = "segmentation"
    target_field: ClassVar[str] = "mask"
    target_dtype: ClassVar[torch.dtype] = torch.long
    cache_dtype: ClassVar[type] = np.uint8
    headline: ClassVar[tuple[str, str]] = ("miou", "mIoU")
    metric_keys: ClassVar[tuple[str, ...]] = (
        "miou",
        "fwiou",
        "pixel_acc",
        "mean_acc",
        "per_class_iou",
    )

    @property
    def out_channels(self) -> int:
        return self.num_classes

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return segmentation_loss(logits, target, self.ignore_index)

    def empty_statistics(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(self.num_classes, self.num_classes, dtype=torch.long, device=device)

    def statistics(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = upsample_to(logits, target.shape[-2:]).argmax(1)
        return confusion_matrix(pred, target, self.num_classes, self.ignore_index)

    def metrics(self, stats: torch.Tensor) -> dict[str, Any]:
        return metrics_from_confusion(stats).to_dict()

    def reward(self, stats: torch.Tensor) -> float:
        return reward_from_confusion(stats, self.background)

    def card_metrics(self, stats: torch.Tensor, class_names: list[str]) -> dict[str, Any]:
        m = metrics_from_confusion(stats)
        return {
            "miou": finite_or_none(m.mean_iou),
            "fwiou": finite_or_none(m.fw_iou),
            "pixel_acc": finite_or_none(m.pixel_accuracy),
            "mean_acc": finite_or_none(m.mean_accuracy),
            "per_class_iou": {n: finite_or_none(v) for n, v in zip(class_names, m.per_class_iou)},
        }

    def options(self) -> dict[str, Any]:
        return {}
