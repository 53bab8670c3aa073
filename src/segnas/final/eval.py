"""Scoring a model on a whole dataset split at full resolution, as papers report it.

The search scores candidates on fixed-size crops; here every image is seen whole at its own size.
Test-time augmentation follows the usual DeepLab recipe: resize the input per scale, mirror it,
bring each prediction back to the label size and average the softmax probabilities.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from segnas.data.dataset import SegmentationDataset
from segnas.data.source import SegmentationSource
from segnas.data.transforms import EvalTransform
from segnas.final.inference import InferenceNet, inference_net
from segnas.settings_io import require, to_dict
from segnas.space.decoder import main_logits
from segnas.space.model_file import ModelFileError, ModelMeta, load_model
from segnas.train.losses import upsample_to
from segnas.train.metrics import SegMetrics, confusion_matrix, metrics_from_confusion

MAX_SCALE = 8.0
"""Largest accepted test scale; beyond it a typo (`15` for `1.5`) would only exhaust memory."""


def check_scales(scales: Sequence[float]) -> None:
    """Refuse an empty list or a scale that is not a finite number in (0, MAX_SCALE]."""
    require(bool(scales), "scales", list(scales), "at least one scale, e.g. [1.0]")
    for i, scale in enumerate(scales):
        ok = math.isfinite(scale) and 0 < scale <= MAX_SCALE
        require(ok, f"scales[{i}]", scale, f"a number in (0, {MAX_SCALE}]")


@dataclass(frozen=True)
class EvalSettings:
    """How `segnas eval` runs; the defaults give the plain single-scale figures."""

    scales: tuple[float, ...] = (1.0,)
    """Input scales for multi-scale testing, e.g. [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]; the class
    probabilities, resized back to the label size, are averaged over all scales (and flips)."""
    flip: bool = False
    """Also predict on the horizontally mirrored input and average (doubles the work)."""
    batch_size: int = 4
    """Consecutive images of the same size evaluated together; a size change starts a new batch,
    so datasets of mixed sizes go one image at a time."""
    workers: int = 0
    """DataLoader worker processes reading and normalising images."""

    def __post_init__(self) -> None:
        check_scales(self.scales)
        require(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        require(self.workers >= 0, "workers", self.workers, ">= 0")


def _scaled_size(size: Sequence[int], scale: float) -> tuple[int, int]:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def upsampled_views(
    net: nn.Module, images: torch.Tensor, scales: Sequence[float] = (1.0,), flip: bool = False
) -> Iterator[torch.Tensor]:
    """The network's outputs for every test view of (B, 3, H, W) images, each brought back to
    (H, W): per scale the input is resized bilinearly, mirrored outputs are mirrored back."""
    check_scales(scales)
    size = tuple(images.shape[-2:])
    for scale in scales:
        x = images
        if _scaled_size(size, scale) != size:
            x = F.interpolate(
                images, size=_scaled_size(size, scale), mode="bilinear", align_corners=False
            )
        for mirrored in (False, True) if flip else (False,):
            logits = main_logits(net(x.flip(-1) if mirrored else x))  # (B, K, h, w)
            if mirrored:
                logits = logits.flip(-1)
            yield upsample_to(logits.float(), size)  # (B, K, H, W)


@torch.inference_mode()
def predict_probabilities(
    net: nn.Module, images: torch.Tensor, scales: Sequence[float] = (1.0,), flip: bool = False
) -> torch.Tensor:
    """(B, 3, H, W) normalised images -> (B, K, H, W) class probabilities, the mean of every
    view's softmax (`upsampled_views`)."""
    total: torch.Tensor | None = None
    for logits in upsampled_views(net, images, scales, flip):
        probs = logits.softmax(1)
        total = probs if total is None else total.add_(probs)
    assert total is not None  # check_scales guarantees at least one view
    return total.div_(len(scales) * (2 if flip else 1))


def same_size_batches(
    samples: Iterable[tuple[torch.Tensor, torch.Tensor]], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Stack consecutive (3, H, W) images and (H, W) masks of one size, up to `batch_size`."""
    images: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    for image, mask in samples:
        if images and (image.shape != images[0].shape or len(images) == batch_size):
            yield torch.stack(images), torch.stack(masks)
            images, masks = [], []
        images.append(image)
        masks.append(mask)
    if images:
        yield torch.stack(images), torch.stack(masks)  # (B, 3, H, W), (B, H, W)


def evaluate_confusion(
    net: nn.Module,
    source: SegmentationSource,
    settings: EvalSettings,
    device: torch.device | str,
    on_batch: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """(K, K) confusion counts (rows = label, columns = prediction) over the whole split.

    Puts `net` in eval mode on `device`; `on_batch(n)` is told after every batch of n images.
    """
    device = torch.device(device)
    net.eval().to(device)
    dataset = SegmentationDataset(source, EvalTransform(), 0)
    loader = DataLoader(
        dataset,
        batch_size=None,  # samples one by one: sizes may differ, `same_size_batches` groups them
        num_workers=settings.workers,
        pin_memory=device.type == "cuda",
    )
    k = source.num_classes
    cm = torch.zeros(k, k, dtype=torch.long, device=device)
    for images, masks in same_size_batches(loader, settings.batch_size):
        probs = predict_probabilities(
            net, images.to(device, non_blocking=True), settings.scales, settings.flip
        )
        cm += confusion_matrix(probs.argmax(1), masks.to(device), k, source.ignore_index)
        if on_batch is not None:
            on_batch(len(masks))
    return cm.cpu()


@dataclass
class EvalReport:
    """Figures of one evaluation; per-class lists follow `class_names` order."""

    class_names: list[str]
    confusion: torch.Tensor
    """(K, K) int64 pixel counts, rows = label, columns = prediction."""
    metrics: SegMetrics
    images: int
    seconds: float
    settings: EvalSettings
    notes: list[str] = field(default_factory=list)
    """Things the user should know (e.g. class names that differ between model and data)."""

    @property
    def class_pixels(self) -> list[int]:
        return self.confusion.sum(1).tolist()

    @property
    def per_class_accuracy(self) -> list[float]:
        """Recall of each class; NaN for a class absent from the labels."""
        cm = self.confusion.double()
        return [float(tp / n) if n > 0 else math.nan for tp, n in zip(cm.diag(), cm.sum(1))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN, meaning "class absent", becomes null)."""
        m = self.metrics
        return {
            "images": self.images,
            "seconds": self.seconds,
            "settings": to_dict(self.settings),
            "mean_iou": _finite(m.mean_iou),
            "fw_iou": _finite(m.fw_iou),
            "pixel_accuracy": _finite(m.pixel_accuracy),
            "mean_accuracy": _finite(m.mean_accuracy),
            "class_names": list(self.class_names),
            "per_class_iou": [_finite(v) for v in m.per_class_iou],
            "per_class_accuracy": [_finite(v) for v in self.per_class_accuracy],
            "class_pixels": self.class_pixels,
            "confusion": self.confusion.tolist(),
            "notes": list(self.notes),
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def load_checked(
    path: Path, device: torch.device | str, num_classes: int | None = None, data: str = "the data"
) -> tuple[InferenceNet, ModelMeta]:
    """The runtime form of the network a model file holds (`inference_net`: no auxiliary heads,
    eval mode, batch norm folded, the device's fastest exact rewrites), full-size logits.

    With `num_classes`, a model predicting another number of classes is refused: its figures
    would be meaningless, and a wrong class table is an easy mistake with folders and lists.
    """
    net, meta = load_model(Path(path), device)
    if num_classes is not None and meta.num_classes != num_classes:
        raise ModelFileError(
            f"{path}: the model predicts {meta.num_classes} classes but {data} has "
            f"{num_classes}; evaluate it on the dataset it was trained for"
        )
    return inference_net(net, device), meta


def class_names_for(meta: ModelMeta, fallback: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Class names from the model file, else `fallback`, else `class0`, ...; plus notes."""
    notes = []
    fallback = list(fallback)
    if len(meta.class_names) == meta.num_classes:
        names = list(meta.class_names)
        if len(fallback) == len(names) and fallback != names:
            notes.append(
                "class names differ between model and data; the model's are shown "
                f"(data: {', '.join(fallback)})"
            )
        return names, notes
    if len(fallback) == meta.num_classes:
        return fallback, notes
    return [f"class{k}" for k in range(meta.num_classes)], notes


def evaluate(
    net: nn.Module,
    source: SegmentationSource,
    settings: EvalSettings,
    device: torch.device | str,
    class_names: Sequence[str] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> EvalReport:
    """Confusion matrix and metrics of `net` over every image of `source`."""
    start = time.perf_counter()
    cm = evaluate_confusion(net, source, settings, device, on_batch)
    return EvalReport(
        class_names=list(class_names or source.class_names),
        confusion=cm,
        metrics=metrics_from_confusion(cm),
        images=len(source),
        seconds=time.perf_counter() - start,
        settings=settings,
    )
