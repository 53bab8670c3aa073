"""The `Task` interface and the factory that picks a task for a dataset or a model file.

A task is a small picklable object (it travels to Ray workers inside the search data): it says
how many channels the network predicts, which field of a `Sample` is the target and how it is
stored, the loss on one head's logits, and how per-batch statistics become metrics and the
search reward. Statistics are one tensor that adds up over batches (a confusion matrix, a few
sums), so any split is scored by summing and every executor can merge them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np
import torch

from segnas.data.spec import TASKS

TASK_NAMES = TASKS
"""The tasks `--task` accepts."""


class Task(ABC):
    """One dense prediction task; subclasses are frozen dataclasses of their options."""

    name: ClassVar[str]
    target_field: ClassVar[str]
    """The `Sample` field the transforms turn into the target: ``mask`` or ``depth``."""
    target_dtype: ClassVar[torch.dtype]
    """dtype of targets handed to `loss` and `statistics`."""
    cache_dtype: ClassVar[type]
    """numpy dtype that cached targets are stored in."""
    headline: ClassVar[tuple[str, str]]
    """(metric key, label) of the one figure progress lines show."""
    metric_keys: ClassVar[tuple[str, ...]]
    """The keys of `card_metrics`."""

    @property
    @abstractmethod
    def out_channels(self) -> int:
        """Channels of the network's output."""

    @abstractmethod
    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of one head's (B, C, h, w) logits against (B, H, W) targets (upsampled inside)."""

    @abstractmethod
    def empty_statistics(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The zero of `statistics`."""

    @abstractmethod
    def statistics(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Summable statistics of (B, C, h, w) logits against (B, H, W) targets."""

    @abstractmethod
    def metrics(self, stats: torch.Tensor) -> dict[str, Any]:
        """The task's figures (JSON-able) from summed statistics."""

    @abstractmethod
    def reward(self, stats: torch.Tensor) -> float:
        """The search reward in [0, 1] from summed statistics."""

    @abstractmethod
    def card_metrics(self, stats: torch.Tensor, class_names: list[str]) -> dict[str, Any]:
        """The figures final training records per epoch and model cards show (None for NaN)."""

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """What a model file records to rebuild this task (`task_from_meta`)."""

    def train_transform(
        self,
        crop_size: int | Sequence[int],
        scale: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
    ) -> Callable:
        """``transform(sample, rng) -> (image, target)`` for training views: random scale,
        flip and a padded crop of the whole image (dense tasks)."""
        from segnas.data.transforms import TrainTransform

        return TrainTransform(crop_size, scale, flip, target=self.target_field)

    def eval_transform(self, crop_size: int | Sequence[int] | None = None) -> Callable:
        """``transform(sample, rng) -> (image, target)`` for scoring: the central crop (or the
        whole image without `crop_size`)."""
        from segnas.data.transforms import EvalTransform

        return EvalTransform(crop_size, target=self.target_field)

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Network output at full size -> the prediction in the task's units."""
        return logits

    def targets_array(self, targets: torch.Tensor) -> np.ndarray:
        """Targets as the cache stores them."""
        return targets.numpy().astype(self.cache_dtype)


def make_task(
    name: str,
    num_classes: int = 1,
    background: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Task:
    """The task `name` for a dataset with `num_classes` (and `background`) and task `options`."""
    from segnas.tasks.depth import DepthSettings, DepthTask
    from segnas.tasks.pose import PoseSettings, PoseTask
    from segnas.tasks.segmentation import SegmentationTask

    if name == "segmentation":
        return SegmentationTask(num_classes, background)
    if name == "depth":
        return DepthTask(DepthSettings(**dict(options or {})))
    if name == "pose":  # the plug-in; commands accept --task pose once the pipeline carries it
        return PoseTask(PoseSettings(**dict(options or {})))
    raise ValueError(f"task {name!r} unknown, expected one of {', '.join(TASK_NAMES)}")


def task_from_meta(meta: Any, background: int | None = 0) -> Task:
    """The task a model file (`ModelMeta`) was trained for; files without one are segmentation.
    `background` is the class a segmentation reward leaves out (the dataset's)."""
    return make_task(meta.task, meta.num_classes, background, meta.task_options)


def task_options(settings: Any) -> dict[str, Any]:
    """The task options of search settings (`SearchSettings`): the `depth` or `pose` section."""
    return asdict(settings.pose if settings.task == "pose" else settings.depth)


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: figures that are undefined become None."""
    return None if value is None or value != value else float(value)


SCALE_SAMPLES = 64
"""Training samples (evenly spread) whose median depth becomes the depth task's scale."""


POSE_CROPS = {"coco": (0.75, 0.30, 40.0), "mpii": (1.0, 0.25, 30.0)}
"""Per pose format: box aspect (w / h), scale and rotation spread of training crops (the
paper's, after SimpleBaselines); other sources (the built-in scenes): square, COCO's ranges."""


def pose_defaults(source: Any) -> dict[str, Any]:
    """The pose task's options a dataset decides: its keypoints, flip pairs and crop rule."""
    aspect, scale, rotation = POSE_CROPS.get(source.name, (1.0, 0.30, 40.0))
    return {
        "num_keypoints": len(source.keypoint_names),
        "flip_pairs": tuple(source.flip_pairs),
        "aspect": aspect,
        "augment_scale": scale,
        "augment_rotation": rotation,
    }


def task_for_source(name: str, source: Any, options: Mapping[str, Any] | None = None) -> Task:
    """The task `name` for training on `source`: its classes for segmentation; for depth, the
    options with the scale estimated from the data when not given (`DepthSettings.scale`); for
    pose, the dataset's keypoints and crops with the user's `PoseChoices` (`options`)."""
    from segnas.tasks.depth import estimate_scale

    if name == "pose":
        return make_task(name, options={**pose_defaults(source), **dict(options or {})})
    if name != "depth":
        return make_task(name, source.num_classes, source.background_index, options)
    options = dict(options or {})
    if options.get("scale") is None:
        picks = np.linspace(0, len(source) - 1, min(SCALE_SAMPLES, len(source))).round()
        depths = [source[int(i)].depth for i in picks] if len(source) else []
        options["scale"] = estimate_scale([d for d in depths if d is not None])
    return make_task(name, options=options)
