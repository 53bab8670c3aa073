"""Everything the inner loop reads, prepared once per search and cached on disk.

Stage 1 needs the frozen encoder's taps of one augmented view per meta-train image (and the
teacher's logits for them); validation needs meta-val views and their taps; stage 2 needs a
second augmented view of the meta-train images. All are fixed by the seed, stored as fp16
memory-mapped arrays keyed by what produced them, and reused by later runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from segnas.encoders import Encoder
from segnas.space.decoder import main_logits
from segnas.tasks.base import Task, make_task
from segnas.train.array_cache import ArrayCache, cache_key

VIEWS_VERSION = 1
"""Bump when transforms or cache layouts change, so old cache entries are not reused."""


@dataclass
class SearchData:
    """Tensors in place for the hot loops, plus the frozen encoder candidates start from.

    The `*_masks` tensors hold the task's targets: class ids (uint8) or depth (float32).
    """

    task: Task
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

    @property
    def num_classes(self) -> int:
        """Channels the candidates predict (`Task.out_channels`)."""
        return self.task.out_channels

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
    source: SegmentationSource,
    transform: Callable,
    seed: int,
    batch_size: int,
    workers: int,
    task: Task,
) -> Iterator[dict[str, np.ndarray]]:
    dataset = SegmentationDataset(source, transform, seed)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    for images, targets in loader:
        yield {"image": images.half().numpy(), "mask": task.targets_array(targets)}


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


def search_split(
    ids: Sequence[str],
    val_fraction: float,
    seed: int,
    train_count: int | None = None,
    val_count: int | None = None,
) -> tuple[list[str], list[str]]:
    """The run's meta-train and meta-val ids, cut to the counts each candidate uses.

    Computed once per run: the search saves it with the run and hands the same lists to
    `prepare_search_data`, so what is saved is what was trained on.
    """
    train_ids, val_ids = meta_split(list(ids), val_fraction, seed)
    return train_ids[:train_count], val_ids[:val_count]


@dataclass(frozen=True)
class SearchDataInputs:
    """What the search data is made of; all but the two networks key the caches."""

    source: SegmentationSource
    train_ids: list[str]
    """Meta-train ids (`search_split`)."""
    val_ids: list[str]
    """Meta-val ids (`search_split`)."""
    encoder: Encoder
    """The frozen encoder whose taps stage 1 trains on."""
    encoder_id: str
    """What identifies the encoder's weights (`encoder_identity`)."""
    teacher: nn.Module | None = None
    """Distillation teacher; None: no teacher logits."""
    teacher_id: str | None = None
    """What identifies the teacher's weights."""
    crop_size: int = 64
    """Side of every view (`CandidateSettings.crop_size`)."""
    batch_size: int = 64
    """Images per encoder or teacher pass (`CandidateSettings.val_batch_size`)."""
    seed: int = 0
    """The run's seed: it fixes the augmentation of the views."""
    workers: int = 0
    """DataLoader worker processes augmenting the views."""
    task: Task | None = None
    """What the candidates learn; None: segmentation of the source's classes."""

    def resolved_task(self) -> Task:
        if self.task is not None:
            return self.task
        return make_task("segmentation", self.source.num_classes, self.source.background_index)


@dataclass(frozen=True)
class _Views:
    """One set of augmented views: what keys them in the cache, the images and the masks."""

    parts: dict[str, Any]
    image: np.ndarray
    mask: np.ndarray


def prepare_search_data(
    inputs: SearchDataInputs,
    device: torch.device | str = "cpu",
    cache_root: Path | None = None,
) -> SearchData:
    """Augment, encode and (with a teacher) distil once; later calls hit the cache.

    Stage 1 trains on the taps of one augmented view of each meta-train image (with the
    teacher's logits for it), stage 2 on a second view; validation uses central views.
    """
    steps = _Steps(inputs, torch.device(device), cache_root)
    crop, seed, task = inputs.crop_size, inputs.seed, steps.task
    train_view = task.train_transform(crop)
    train = steps.views("train", inputs.train_ids, train_view, seed * 2 + 1)
    val = steps.views("val", inputs.val_ids, task.eval_transform(crop), 0)
    stage2 = steps.views("stage2", inputs.train_ids, train_view, seed * 2 + 2)
    teacher_logits = steps.teacher_logits(train)
    return SearchData(
        task=steps.task,
        device=steps.device,
        encoder=steps.encoder,
        train_taps=steps.taps("train", train),
        train_masks=_tensor(train.mask, steps.device),
        val_taps=steps.taps("val", val),
        val_images=_tensor(val.image, steps.device),
        val_masks=_tensor(val.mask, steps.device),
        stage2_images=_tensor(stage2.image, steps.device),
        stage2_masks=_tensor(stage2.mask, steps.device),
        teacher_logits=teacher_logits,
        identity=steps.identity(),
        cache_hits=steps.hits,
    )


class _Steps:
    """The steps of `prepare_search_data`, sharing the cache and recording its hits."""

    def __init__(self, inputs: SearchDataInputs, device: torch.device, root: Path | None) -> None:
        self.inputs, self.device = inputs, device
        self.task = inputs.resolved_task()
        self.cache = ArrayCache((root or default_cache_root()) / "search")
        self.encoder = inputs.encoder.to(device).eval().requires_grad_(False)
        self.base = {
            "version": VIEWS_VERSION,
            "dataset": inputs.source.describe(),
            "crop": inputs.crop_size,
            "seed": inputs.seed,
        }
        self.hits: dict[str, bool] = {}

    def views(self, name: str, ids: list[str], transform: Callable, view_seed: int) -> _Views:
        """Augmented views of `ids`, drawn with `view_seed`."""
        parts = {**self.base, "views": name, "ids": cache_key({"ids": ids}), "view_seed": view_seed}
        source, workers = subset(self.inputs.source, ids), self.inputs.workers
        arrays, self.hits[name] = self.cache.get_or_build(
            parts,
            len(ids),
            lambda: _view_batches(source, transform, view_seed, 64, workers, self.task),
        )
        return _Views(parts, arrays["image"], arrays["mask"])

    def taps(self, name: str, views: _Views) -> list[torch.Tensor]:
        """The frozen encoder's taps of `views`."""

        def encode(x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {f"tap{i}": t for i, t in enumerate(self.encoder(x))}

        arrays = self._applied(f"{name}_taps", "encoder", self.inputs.encoder_id, views, encode)
        return [_tensor(arrays[f"tap{i}"], self.device) for i in range(len(arrays))]

    def teacher_logits(self, views: _Views) -> torch.Tensor | None:
        """The teacher's logits on `views` at a quarter of the crop (the decoder's stride)."""
        if self.inputs.teacher is None:
            return None
        teacher = self.inputs.teacher.to(self.device).eval()
        quarter = self.inputs.crop_size // 4

        def distil(x: torch.Tensor) -> dict[str, torch.Tensor]:
            logits = main_logits(teacher(x))
            size = (quarter, quarter)
            return {
                "logits": F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            }

        arrays = self._applied("teacher", "teacher", self.inputs.teacher_id, views, distil)
        return _tensor(arrays["logits"], self.device)

    def _applied(
        self, name: str, role: str, model_id: str | None, views: _Views, model: Callable
    ) -> dict[str, np.ndarray]:
        """`model` applied to the images of `views`, cached under the views and `model_id`."""
        parts = {"of": views.parts, role: model_id}
        images, batch_size = views.image, self.inputs.batch_size
        arrays, self.hits[name] = self.cache.get_or_build(
            parts, len(images), lambda: _apply_batches(model, images, self.device, batch_size)
        )
        return arrays

    def identity(self) -> dict[str, Any]:
        """What the data depends on; a resumed search must match it."""
        inputs = self.inputs
        return {
            **self.base,
            "train": len(inputs.train_ids),
            "val": len(inputs.val_ids),
            "encoder": inputs.encoder_id,
            "teacher": inputs.teacher_id,
            "classes": inputs.source.num_classes,
            **({} if self.task.name == "segmentation" else {"task": self.task.options()}),
        }
