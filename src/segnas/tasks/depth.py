"""Monocular depth: one output channel, the inverse Huber (berHu) loss, the usual depth figures.

The network predicts log depth relative to a scale: depth = scale x exp(output). A fresh
decoder (output near 0) thus starts at the scale, the training data's median depth, instead of
at 0 m, which a candidate's few hundred steps could not climb out of; and depth stays positive
for the log figures. Missing depth (0, NaN, or `invalid_value`) is ignored by loss and figures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from segnas.settings_io import require
from segnas.tasks.base import Task, finite_or_none
from segnas.train.losses import upsample_to

REWARDS = ("delta1", "delta2", "delta3", "abs_rel")
"""Search rewards: the share of pixels within 1.25, 1.25^2, 1.25^3 of the truth, or
1 - abs rel (clipped at 0)."""
STAT_NAMES = ("count", "sq_err", "sq_log_err", "abs_rel", "sq_rel", "delta1", "delta2", "delta3")
"""The sums `DepthTask.statistics` keeps, in order."""
METRIC_NAMES = ("rmse", "rmse_log", "abs_rel", "sq_rel", "delta1", "delta2", "delta3")
LOG_LIMIT = 12.0
"""Outputs are clamped to +-this before exp: e^12 x scale is far beyond any sensor's range."""


@dataclass(frozen=True)
class DepthSettings:
    """Options of the depth task (`--set task.KEY=VALUE`, recorded in model files)."""

    reward: str = "delta1"
    """What the search maximises: delta1 (the paper), delta2, delta3 or abs_rel (1 - abs rel)."""
    invalid_value: float | None = None
    """A depth value, in metres, that marks missing depth besides 0 and NaN (a sensor's
    sentinel); None: only 0 and NaN."""
    max_depth: float | None = None
    """Pixels deeper than this (metres) are ignored by loss and figures (NYUDv2: 10)."""
    scale: float | None = None
    """Depth (metres) of a zero output; None: the training data's median depth, estimated once
    when training starts and recorded in the run and model file."""
    berhu_threshold: float = 0.2
    """berHu's c as a share of the batch's largest absolute error (the paper: 0.2)."""

    def __post_init__(self) -> None:
        require(self.reward in REWARDS, "reward", self.reward, f"one of {', '.join(REWARDS)}")
        max_depth, scale = self.max_depth, self.scale
        require(max_depth is None or max_depth > 0, "max_depth", max_depth, "> 0 or null")
        require(scale is None or scale > 0, "scale", scale, "> 0 or null")
        require(0 < self.berhu_threshold <= 1, "berhu_threshold", self.berhu_threshold, "in (0, 1]")


def valid_depth(
    target: torch.Tensor, invalid_value: float | None = None, max_depth: float | None = None
) -> torch.Tensor:
    """Pixels with a usable depth: finite, > 0, not the sentinel, not beyond `max_depth`."""
    valid = torch.isfinite(target) & (target > 0)
    if invalid_value is not None:
        valid &= target != invalid_value
    if max_depth is not None:
        valid &= target <= max_depth
    return valid


def berhu_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, threshold: float = 0.2
) -> torch.Tensor:
    """Mean inverse Huber loss over `valid` pixels (Laina et al., 2016).

    |e| where |e| <= c, (e^2 + c^2) / 2c beyond, with c = `threshold` x the batch's largest
    absolute error (a constant, no gradient). A batch without valid pixels gives 0 (with a
    zero gradient), not NaN.
    """
    err = torch.where(valid, pred - torch.where(valid, target, 0.0), 0.0).abs()
    if not bool(valid.any()):
        return (pred * 0).sum()
    c = (threshold * err.detach().max()).clamp(min=1e-12)
    per_pixel = torch.where(err <= c, err, (err * err + c * c) / (2 * c))
    return per_pixel.sum() / valid.sum()


def estimate_scale(depths: list[np.ndarray]) -> float:
    """Median of the valid depths given, to 3 significant digits (1.0 when none is valid)."""
    values = [d[np.isfinite(d) & (d > 0)] for d in depths]
    flat = np.concatenate(values) if values else np.empty(0)
    if flat.size == 0:
        return 1.0
    median = float(np.median(flat))
    return float(f"{median:.3g}")


@dataclass(frozen=True)
class DepthTask(Task):
    """Depth in metres; figures over all valid pixels of a split (not per-image means)."""

    settings: DepthSettings = field(default_factory=DepthSettings)

    name: ClassVar[str] = "depth"
    target_field: ClassVar[str] = "depth"
    target_dtype: ClassVar[torch.dtype] = torch.float32
    cache_dtype: ClassVar[type] = np.float32
    headline: ClassVar[tuple[str, str]] = ("delta1", "δ<1.25")
    metric_keys: ClassVar[tuple[str, ...]] = METRIC_NAMES

    @property
    def out_channels(self) -> int:
        return 1

    @property
    def scale(self) -> float:
        return 1.0 if self.settings.scale is None else self.settings.scale

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) outputs -> (B, H, W) depth in metres."""
        return self.scale * logits[:, 0].clamp(-LOG_LIMIT, LOG_LIMIT).exp()

    def valid(self, target: torch.Tensor) -> torch.Tensor:
        """Pixels whose depth counts (`valid_depth` with this task's options)."""
        return valid_depth(target, self.settings.invalid_value, self.settings.max_depth)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = self.decode(upsample_to(logits, target.shape[-2:]))
        return berhu_loss(pred, target, self.valid(target), self.settings.berhu_threshold)

    def empty_statistics(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(len(STAT_NAMES), dtype=torch.float64, device=device)

    def statistics(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = self.decode(upsample_to(logits.float(), target.shape[-2:]))
        return depth_statistics(pred, target, self.valid(target))

    def metrics(self, stats: torch.Tensor) -> dict[str, Any]:
        return depth_metrics(stats)

    def reward(self, stats: torch.Tensor) -> float:
        figures = depth_metrics(stats)
        if self.settings.reward == "abs_rel":
            value = 1.0 - min(figures["abs_rel"], 1.0)
        else:
            value = figures[self.settings.reward]
        return 0.0 if math.isnan(value) else float(value)

    def card_metrics(self, stats: torch.Tensor, class_names: list[str]) -> dict[str, Any]:
        return {k: finite_or_none(v) for k, v in depth_metrics(stats).items()}

    def options(self) -> dict[str, Any]:
        return asdict(self.settings)


def depth_statistics(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """The `STAT_NAMES` sums over `valid` pixels of (B, H, W) predicted and true depth (> 0)."""
    p = pred[valid].double()
    t = target[valid].double()
    err = p - t
    ratio = torch.maximum(p / t, t / p)
    return torch.stack(
        [
            torch.tensor(float(p.numel()), dtype=torch.float64, device=p.device),
            (err * err).sum(),
            ((p.log() - t.log()) ** 2).sum(),
            (err.abs() / t).sum(),
            (err * err / t).sum(),
            (ratio < 1.25).sum().double(),
            (ratio < 1.25**2).sum().double(),
            (ratio < 1.25**3).sum().double(),
        ]
    )


def depth_metrics(stats: torch.Tensor) -> dict[str, float]:
    """RMSE (linear, log), abs rel, sq rel and the three delta accuracies; NaN without pixels."""
    s = dict(zip(STAT_NAMES, stats.double().tolist()))
    n = s["count"]
    if n == 0:
        return dict.fromkeys(METRIC_NAMES, float("nan"))
    return {
        "rmse": math.sqrt(s["sq_err"] / n),
        "rmse_log": math.sqrt(s["sq_log_err"] / n),
        "abs_rel": s["abs_rel"] / n,
        "sq_rel": s["sq_rel"] / n,
        "delta1": s["delta1"] / n,
        "delta2": s["delta2"] / n,
        "delta3": s["delta3"] / n,
    }
