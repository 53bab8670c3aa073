"""Everything the inner loop reads, prepared once per search and cached on disk.

Stage 1 needs the frozen encoder's taps of one augmented view per meta-train image (and the
teacher's logits for them); validation needs meta-val views and their taps; stage 2 needs a
second augmented view of the meta-train images. All are fixed by the seed, stored as fp16
memory-mapped arrays keyed by what produced them, and reused by later runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from segnas.data.builtin.source import default_cache_root
from segnas.data.dataset import SegmentationDataset
from segnas.data.source import SegmentationSource
from segnas.data.split import meta_split, subset
from segnas.data.transforms import EvalTransform, TrainTransform
from segnas.encoders import Encoder
from segnas.train.array_cache import ArrayCache, cache_key
from segnas.train.settings import CandidateSettings

VIEWS_VERSION = 1
"""Bump when transforms or cache layouts change, so old cache entries are not reused."""


@dataclass
class SearchData:
    """Tensors in place for the hot loops, plus the frozen encoder candidates start from."""

    num_classes: int
    background: int | None
    device: torch.device
    encoder: Encoder
    train_taps: list[torch.Tensor]
    train_masks: torch.Tensor
    val_taps: list[torch.Tensor]
    val_images: torch.Tensor
    val_masks: torch.Tensor
    stage2_images: torch.Tensor
    stage2_masks: torch.Tensor
    teacher_logits: torch.Tensor | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    """What the data depends on; a resumed search must match it."""
    cache_hits: dict[str, bool] = field(default_factory=dict)

    def to(self, device: torch.device) -> SearchData:
        """A copy with every tensor and the encoder on `device` (for GPU workers)."""
        moved: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, torch.Tensor):
                value = value.to(device)
            elif isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
                value = [v.to(device) for v in value]
            moved[item.name] = value
        moved["encoder"] = copy.deepcopy(self.encoder).to(device)
        moved["device"] = torch.device(device)
        return SearchData(**moved)


def _view_batches(
    source: SegmentationSource, transform: Callable, seed: int, batch_size: int, workers: int
) -> Iterator[dict[str, np.ndarray]]:
    dataset = SegmentationDataset(source, transform, seed)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    for images, masks in loader:
        yield {"image": images.half().numpy(), "mask": masks.to(torch.uint8).numpy()}


@torch.inference_mode()
def _apply_batches(
    model: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
    images: np.ndarray,
    device: torch.device,
    batch_size: int,
) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(np.array(images[start : start + batch_size])).to(device).float()
        yield {k: v.half().cpu().numpy() for k, v in model(x).items()}


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Whole array into memory: fp16 storage becomes fp32 compute, labels stay uint8."""
    tensor = torch.from_numpy(np.array(array))  # a private, writable copy in memory
    if tensor.dtype == torch.float16:
        tensor = tensor.float()
    return tensor.to(device)


def prepare_search_data(
    source: SegmentationSource,
    settings: CandidateSettings,
    encoder: Encoder,
    encoder_id: str,
    *,
    teacher: nn.Module | None = None,
    teacher_id: str | None = None,
    val_fraction: float = 0.1,
    train_count: int | None = None,
    val_count: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    cache_root: Path | None = None,
    workers: int = 0,
) -> SearchData:
    """Split, augment, encode and (optionally) distil once; later calls hit the cache."""
    device = torch.device(device)
    cache = ArrayCache((cache_root or default_cache_root()) / "search")
    train_ids, val_ids = meta_split(list(source.ids), val_fraction, seed)
    train_ids, val_ids = train_ids[:train_count], val_ids[:val_count]
    crop = settings.crop_size
    base = {"version": VIEWS_VERSION, "dataset": source.describe(), "crop": crop, "seed": seed}
    hits: dict[str, bool] = {}

    def views(name: str, ids: list[str], transform: Callable, view_seed: int) -> dict:
        parts = {**base, "views": name, "ids": cache_key({"ids": ids}), "view_seed": view_seed}
        arrays, hits[name] = cache.get_or_build(
            parts,
            len(ids),
            lambda: _view_batches(subset(source, ids), transform, view_seed, 64, workers),
        )
        return {"parts": parts, **arrays}

    train = views("train", train_ids, TrainTransform(crop), seed * 2 + 1)
    val = views("val", val_ids, EvalTransform(crop), 0)
    stage2 = views("stage2", train_ids, TrainTransform(crop), seed * 2 + 2)

    encoder = encoder.to(device).eval().requires_grad_(False)

    def encode(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"tap{i}": t for i, t in enumerate(encoder(x))}

    def taps_of(name: str, view: dict) -> list[torch.Tensor]:
        parts = {"of": view["parts"], "encoder": encoder_id}
        arrays, hits[f"{name}_taps"] = cache.get_or_build(
            parts,
            len(view["image"]),
            lambda: _apply_batches(encode, view["image"], device, settings.val_batch_size),
        )
        return [_tensor(arrays[f"tap{i}"], device) for i in range(len(arrays))]

    teacher_logits = None
    if teacher is not None:
        teacher = teacher.to(device).eval()
        size = (crop // 4, crop // 4)

        def distil(x: torch.Tensor) -> dict[str, torch.Tensor]:
            logits = teacher(x)
            logits = logits["out"] if isinstance(logits, Mapping) else logits
            return {
                "logits": F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            }

        parts = {"of": train["parts"], "teacher": teacher_id}
        arrays, hits["teacher"] = cache.get_or_build(
            parts,
            len(train_ids),
            lambda: _apply_batches(distil, train["image"], device, settings.val_batch_size),
        )
        teacher_logits = _tensor(arrays["logits"], device)

    return SearchData(
        num_classes=source.num_classes,
        background=source.background_index,
        device=device,
        encoder=encoder,
        train_taps=taps_of("train", train),
        train_masks=_tensor(train["mask"], device),
        val_taps=taps_of("val", val),
        val_images=_tensor(val["image"], device),
        val_masks=_tensor(val["mask"], device),
        stage2_images=_tensor(stage2["image"], device),
        stage2_masks=_tensor(stage2["mask"], device),
        teacher_logits=teacher_logits,
        identity={
            **base,
            "train": len(train_ids),
            "val": len(val_ids),
            "encoder": encoder_id,
            "teacher": teacher_id,
            "classes": source.num_classes,
        },
        cache_hits=hits,
    )
