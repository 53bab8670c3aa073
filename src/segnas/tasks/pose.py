"""Pose estimation as a task plug-in: K heatmaps at stride 4, visibility-weighted MSE, PCKh or
OKS as the reward.

A pose target is a small keypoint table, not a map: (K + 2, 3) float32 per sample, rows 0..K-1
the keypoints (x, y, visibility) in input pixels (the crop the network sees), row K the
instance's normalisers (head size for PCKh, segment area for OKS, both in input pixels; 0 where
unknown) and row K + 1 the input's (height, width). Caches store it exactly and cheaply, the
Gaussian heatmaps are drawn from it on the training device when the loss needs them, and the
statistics compare decoded predictions with the exact keypoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from segnas.data.pose import COCO_SIGMAS
from segnas.settings_io import require
from segnas.tasks.base import Task, finite_or_none
from segnas.tasks.pose_heatmaps import (
    batch_heatmap_targets,
    decode_heatmaps,
    heatmap_size,
    pose_loss,
)
from segnas.train.losses import upsample_to

REWARDS = ("pckh", "oks")
META_ROWS = 2
"""Rows after the keypoints in a pose target: normalisers, then the input size."""
DEFAULT_OKS_SIGMA = 0.072
"""OKS constant of every joint for keypoint sets other than COCO's 17 (about COCO's mean)."""
TENTH = 0.1
"""The strict PCKh threshold reported beside the chosen one (MPII's @0.1)."""


@dataclass(frozen=True)
class PoseChoices:
    """The pose task's options a user picks (`--set pose.KEY=VALUE`); keypoints, flip pairs and
    crops come from the dataset (`pose_defaults`)."""

    reward: str = "pckh"
    """Search reward: `pckh` (PCKh at `threshold`, MPII-style) or `oks` (mean OKS, COCO-style)."""
    threshold: float = 0.5
    """PCKh threshold, a fraction of the head size."""

    def __post_init__(self) -> None:
        require(self.reward in REWARDS, "reward", self.reward, f"one of {REWARDS}")
        require(0 < self.threshold <= 1, "threshold", self.threshold, "in (0, 1]")


@dataclass(frozen=True)
class PoseSettings:
    """What a pose model predicts and how it is scored."""

    num_keypoints: int = 17
    """K: heatmaps the network predicts."""
    reward: str = "pckh"
    """Search reward: `pckh` (PCKh at `threshold`) or `oks` (mean object keypoint similarity)."""
    threshold: float = 0.5
    """PCKh threshold, a fraction of the head size."""
    sigma: float = 2.0
    """Gaussian sigma of the targets, in heatmap cells."""
    stride: int = 4
    """Input pixels per heatmap cell."""
    oks_sigmas: tuple[float, ...] | None = None
    """Per-joint OKS constants; None: COCO's for 17 joints, `DEFAULT_OKS_SIGMA` otherwise."""
    flip_pairs: tuple[tuple[int, int], ...] = ()
    """(left, right) joints a horizontal flip swaps (the dataset's)."""
    aspect: float | None = None
    """Width / height the person box is widened to (COCO 0.75, MPII 1); None: the input's."""
    augment_scale: float = 0.30
    """Training crops scale by up to this fraction either way (COCO 0.30, MPII 0.25)."""
    augment_rotation: float = 40.0
    """Spread of the training rotation in degrees (COCO 40, MPII 30; see PoseAugment)."""

    def __post_init__(self) -> None:
        require(self.num_keypoints >= 1, "num_keypoints", self.num_keypoints, ">= 1")
        require(self.reward in REWARDS, "reward", self.reward, f"one of {REWARDS}")
        require(0 < self.threshold <= 1, "threshold", self.threshold, "in (0, 1]")
        require(self.sigma > 0, "sigma", self.sigma, "> 0")
        require(self.stride >= 1, "stride", self.stride, ">= 1")
        pairs = tuple((int(a), int(b)) for a, b in self.flip_pairs)
        object.__setattr__(self, "flip_pairs", pairs)
        bad = [p for p in pairs if not (0 <= min(p) and max(p) < self.num_keypoints)]
        require(not bad, "flip_pairs", list(pairs), f"joint indices in 0..{self.num_keypoints - 1}")
        require(self.aspect is None or self.aspect > 0, "aspect", self.aspect, "> 0 or null")
        require(0 <= self.augment_scale < 1, "augment_scale", self.augment_scale, "in [0, 1)")
        require(self.augment_rotation >= 0, "augment_rotation", self.augment_rotation, ">= 0")
        if self.oks_sigmas is not None:
            object.__setattr__(self, "oks_sigmas", tuple(float(s) for s in self.oks_sigmas))
            count = len(self.oks_sigmas)
            require(count == self.num_keypoints, "oks_sigmas", count, "one per keypoint")

    def sigmas(self) -> tuple[float, ...]:
        """The OKS constants in use."""
        if self.oks_sigmas is not None:
            return self.oks_sigmas
        if self.num_keypoints == len(COCO_SIGMAS):
            return COCO_SIGMAS
        return (DEFAULT_OKS_SIGMA,) * self.num_keypoints


def pose_target(
    keypoints: np.ndarray,
    input_size: Sequence[int],
    head_size: float | None = None,
    area: float | None = None,
) -> np.ndarray:
    """One sample's target table: (K, 3) keypoints in input pixels, the normalisers (in input
    pixels; None -> 0, which leaves the instance out of that figure) and the input size."""
    points = np.asarray(keypoints, dtype=np.float32).reshape(-1, 3)
    table = np.zeros((len(points) + META_ROWS, 3), dtype=np.float32)
    table[: len(points)] = points
    table[-2, :2] = (head_size or 0.0, area or 0.0)
    table[-1, :2] = [int(n) for n in input_size]
    return table


def split_target(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple]:
    """(B, K + 2, 3) targets -> (B, K, 3) keypoints, (B,) head sizes, (B,) areas and the
    batch's (height, width) (one input size per batch, as batches stack)."""
    if target.ndim != 3 or target.shape[-1] != 3 or target.shape[1] <= META_ROWS:
        raise ValueError(f"pose targets must be (B, K + 2, 3), got shape {tuple(target.shape)}")
    height, width = (int(v) for v in target[0, -1, :2].tolist())
    return target[:, :-META_ROWS], target[:, -2, 0], target[:, -2, 1], (height, width)


@dataclass(frozen=True)
class PoseTask(Task):
    """Keypoints as heatmaps; statistics per joint (PCKh counts) and per instance (OKS)."""

    settings: PoseSettings = field(default_factory=PoseSettings)

    name: ClassVar[str] = "pose"
    target_field: ClassVar[str] = "keypoints"
    target_dtype: ClassVar[torch.dtype] = torch.float32
    cache_dtype: ClassVar[type] = np.float32
    headline: ClassVar[tuple[str, str]] = ("pckh", "PCKh")
    metric_keys: ClassVar[tuple[str, ...]] = ("pckh", "pckh_0.1", "mean_oks", "per_joint_pckh")

    @property
    def out_channels(self) -> int:
        return self.settings.num_keypoints

    def train_transform(
        self,
        crop_size: int | Sequence[int],
        scale: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
    ) -> Callable:
        """Augmented person crops of `crop_size` (the settings' scale and rotation ranges;
        `scale`, a range for whole images, does not apply) with their target tables."""
        from segnas.data.pose_transforms import PoseAugment, PoseTrainTransform

        s = self.settings
        augment = PoseAugment(scale=s.augment_scale, rotation=s.augment_rotation, flip=flip)
        crops = PoseTrainTransform(crop_size, s.flip_pairs, aspect=s.aspect, augment=augment)
        return PoseTargets(crops)

    def eval_transform(self, crop_size: int | Sequence[int] | None = None) -> Callable:
        """Unaugmented person crops of `crop_size` with their target tables."""
        from segnas.data.pose_transforms import PoseEvalTransform

        if crop_size is None:
            raise ValueError("pose: scoring needs an input size (crop_size), got None")
        s = self.settings
        return PoseTargets(PoseEvalTransform(crop_size, s.flip_pairs, aspect=s.aspect))

    def heatmaps(self, logits: torch.Tensor, input_size: Sequence[int]) -> torch.Tensor:
        """Logits resized (bilinear) to the heatmap size of an input of `input_size`."""
        size = heatmap_size(input_size, self.settings.stride)
        return logits if logits.shape[-2:] == size else upsample_to(logits, size)

    def keypoints(self, logits: torch.Tensor, input_size: Sequence[int]) -> torch.Tensor:
        """(B, K, 3) predicted (x, y, peak value) in input pixels."""
        maps = self.heatmaps(logits.float(), input_size)
        coords, peaks = decode_heatmaps(maps, self.settings.stride)
        return torch.cat([coords, peaks[..., None]], dim=-1)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        points, _, _, size = split_target(target)
        stride, sigma = self.settings.stride, self.settings.sigma
        maps, weights = batch_heatmap_targets(points, size, stride, sigma)
        return pose_loss(self.heatmaps(logits, size), maps.to(logits.dtype), weights)

    def empty_statistics(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(3 * self.settings.num_keypoints + 2, dtype=torch.float64, device=device)

    def statistics(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        points, head, area, size = split_target(target.double())
        pred = self.keypoints(logits, size)[..., :2].double()
        return pose_statistics(pred, points, head, area, self.settings)

    def metrics(self, stats: torch.Tensor) -> dict[str, Any]:
        return pose_metrics(stats, self.settings.num_keypoints)

    def reward(self, stats: torch.Tensor) -> float:
        figures = pose_metrics(stats, self.settings.num_keypoints)
        value = figures["pckh" if self.settings.reward == "pckh" else "mean_oks"]
        return 0.0 if value is None or math.isnan(value) else float(value)

    def card_metrics(self, stats: torch.Tensor, class_names: list[str]) -> dict[str, Any]:
        figures = pose_metrics(stats, self.settings.num_keypoints)
        per_joint = dict(zip(class_names, figures.pop("per_joint_pckh")))
        return {**{k: finite_or_none(v) for k, v in figures.items()}, "per_joint_pckh": per_joint}

    def options(self) -> dict[str, Any]:
        return asdict(self.settings)


class PoseTargets:
    """A person-crop transform whose target is the crop's table (`pose_target`): keypoints in
    crop pixels, head size and area scaled by the crop's affine, the crop's size."""

    def __init__(self, crops: Any) -> None:
        self.crops = crops

    def __call__(
        self, sample: Any, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        crop = self.crops.crop(sample, rng)
        zoom = math.sqrt(abs(float(np.linalg.det(crop.affine[:, :2]))))
        head = None if sample.head_size is None else sample.head_size * zoom
        area = None if sample.area is None else sample.area * zoom * zoom
        table = pose_target(crop.keypoints, crop.image.shape[:2], head, area)
        return self.crops.normalise(crop.image), torch.from_numpy(table)


def pose_statistics(
    pred: torch.Tensor,
    points: torch.Tensor,
    head: torch.Tensor,
    area: torch.Tensor,
    settings: PoseSettings,
) -> torch.Tensor:
    """Summable statistics of (B, K, 2) predicted coordinates against (B, K, 3) keypoints:
    per joint the labelled count, the correct count at the threshold and at 0.1 (PCKh: a joint
    counts where labelled, the head size is known and the point lies in the input), then the sum
    of OKS and the count of instances with a known area and a labelled joint."""
    x, y, vis = points.unbind(-1)
    labelled = (vis > 0) & torch.isfinite(x) & torch.isfinite(y)
    distance = torch.linalg.vector_norm(pred - points[..., :2], dim=-1)
    has_head = (head > 0)[:, None] & labelled
    scaled = distance / head.clamp(min=1e-12)[:, None]
    counts = has_head.sum(0).double()
    correct = (has_head & (scaled <= settings.threshold)).sum(0).double()
    strict = (has_head & (scaled <= TENTH)).sum(0).double()
    variances = (2 * torch.tensor(settings.sigmas(), dtype=torch.float64, device=pred.device)) ** 2
    e = distance.double() ** 2 / variances / (area.double()[:, None] + np.spacing(1)) / 2
    scored = labelled & (area > 0)[:, None]
    joints = scored.sum(1)
    similarity = (torch.exp(-e) * scored).sum(1) / joints.clamp(min=1)
    has_oks = joints > 0
    oks_sum = similarity[has_oks].sum().reshape(1)
    instances = has_oks.sum().double().reshape(1)
    return torch.cat([counts, correct, strict, oks_sum, instances])


def pose_metrics(stats: torch.Tensor, num_keypoints: int) -> dict[str, Any]:
    """PCKh at the threshold and at 0.1 (means over joints weighted by their counts, as MPII's
    "Mean"), PCKh per joint (None where no joint was labelled) and the mean OKS; NaN where
    nothing was counted."""
    s = stats.double().cpu()
    k = num_keypoints
    counts, correct, strict = s[:k], s[k : 2 * k], s[2 * k : 3 * k]
    total = counts.sum().item()
    per_joint = [c / n if n else None for c, n in zip(correct.tolist(), counts.tolist())]
    instances = s[3 * k + 1].item()
    return {
        "pckh": correct.sum().item() / total if total else math.nan,
        "pckh_0.1": strict.sum().item() / total if total else math.nan,
        "mean_oks": s[3 * k].item() / instances if instances else math.nan,
        "per_joint_pckh": per_joint,
    }
