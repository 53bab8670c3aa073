"""Paired image/target transforms for training and scoring: scale, flip, padded crop, normalise.

A transform is ``transform(sample, rng) -> (image (3, H, W) float32, target (H, W))``; the
target is the sample's mask (int64 class ids, padding = ignore) or, with ``target="depth"``, its
depth (float32 metres, padding = 0 = missing). Depth maps are resized by nearest neighbour, so
missing pixels never blend into valid ones; scaling the image leaves metric depth unchanged (the
usual practice: the scene is not moved closer, the picture is resampled). All randomness comes
from `rng`, and every call draws the same count of numbers, so a sample's augmentation depends
only on the generator's seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from segnas.data.source import IGNORE_INDEX, DatasetError, Sample

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in pair):
        raise ValueError(f"{name}: got {size!r}, expected a positive int or (height, width)")
    return pair  # type: ignore[return-value]


TARGETS = ("mask", "depth")
"""The `Sample` fields a transform can turn into the target."""


def _checked(sample: Sample, target: str) -> tuple[np.ndarray, np.ndarray]:
    image, labels = sample.image, getattr(sample, target)
    if labels is None:
        raise DatasetError(f"sample {sample.id}: has no {target} (expected one for this task)")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != labels.shape:
        raise DatasetError(
            f"sample {sample.id}: image {image.shape} and {target} {labels.shape} do not pair; "
            "expected (H, W, 3) and (H, W) (run `segnas data check`)"
        )
    return image, labels


class _Normalise:
    """uint8 HWC arrays to normalised CHW float tensors, and masks to int64 (depth: float32)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], target: str = "mask") -> None:
        if target not in TARGETS:
            raise ValueError(f"target: got {target!r}, expected one of {', '.join(TARGETS)}")
        self.target = target
        self.target_fill = 0 if target == "depth" else IGNORE_INDEX
        """Padding of the target: missing depth, or the ignore label."""
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.fill = tuple(int(round(255 * m)) for m in self.mean)
        """Padding colour: the mean, which normalises to (almost) zero."""
        self._shift = torch.tensor(self.mean) * 255
        self._scale = torch.tensor(self.std) * 255

    def tensors(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = torch.from_numpy(np.array(image, dtype=np.float32, order="C"))  # (H, W, 3)
        out = pixels.sub_(self._shift).div_(self._scale).permute(2, 0, 1).contiguous()  # (3, H, W)
        dtype = np.float32 if self.target == "depth" else np.int64
        return out, torch.from_numpy(np.array(mask, dtype=dtype, order="C"))

    def pad(self, image: np.ndarray, mask: np.ndarray, h: int, w: int):
        """Pad bottom/right to at least (h, w): image with the mean, the target with
        `target_fill`."""
        ph, pw = max(h - mask.shape[0], 0), max(w - mask.shape[1], 0)
        if ph == 0 and pw == 0:
            return image, mask
        padded = np.empty((mask.shape[0] + ph, mask.shape[1] + pw, 3), np.uint8)
        padded[:] = self.fill
        padded[: mask.shape[0], : mask.shape[1]] = image
        labels = np.full(padded.shape[:2], self.target_fill, mask.dtype)
        labels[: mask.shape[0], : mask.shape[1]] = mask
        return padded, labels


class TrainTransform(_Normalise):
    """Random scale (bilinear image, nearest mask), horizontal flip, padded random crop."""

    def __init__(
        self,
        crop_size: int | Sequence[int],
        scale: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        target: str = "mask",
    ) -> None:
        super().__init__(mean, std, target)
        self.crop = _pair(crop_size, "crop_size")
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale: got {scale!r}, expected 0 < low <= high")
        self.scale = (float(scale[0]), float(scale[1]))
        self.flip = flip

    def __call__(
        self, sample: Sample, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = _checked(sample, self.target)
        factor = rng.uniform(self.scale[0], self.scale[1])
        flip_draw, y_draw, x_draw = rng.random(3)
        h, w = mask.shape
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        if size != (w, h):
            image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
            mask = np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST))
        if self.flip and flip_draw < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        ch, cw = self.crop
        image, mask = self.pad(image, mask, ch, cw)
        y0 = int(y_draw * (mask.shape[0] - ch + 1))
        x0 = int(x_draw * (mask.shape[1] - cw + 1))
        return self.tensors(image[y0 : y0 + ch, x0 : x0 + cw], mask[y0 : y0 + ch, x0 : x0 + cw])


class EvalTransform(_Normalise):
    """Normalisation only; with `crop_size`, pad and take the central window so batches stack."""

    def __init__(
        self,
        crop_size: int | Sequence[int] | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        target: str = "mask",
    ) -> None:
        super().__init__(mean, std, target)
        self.crop = None if crop_size is None else _pair(crop_size, "crop_size")

    def __call__(
        self, sample: Sample, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = _checked(sample, self.target)
        if self.crop is not None:
            ch, cw = self.crop
            image, mask = self.pad(image, mask, ch, cw)
            y0, x0 = (mask.shape[0] - ch) // 2, (mask.shape[1] - cw) // 2
            image, mask = image[y0 : y0 + ch, x0 : x0 + cw], mask[y0 : y0 + ch, x0 : x0 + cw]
        return self.tensors(image, mask)
