"""Paired image/mask transforms for training and scoring: scale, flip, padded crop, normalise.

A transform is ``transform(sample, rng) -> (image (3, H, W) float32, mask (H, W) int64)``; all
randomness comes from `rng`, and every call draws the same count of numbers, so a sample's
augmentation depends only on the generator's seed.
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


def _checked(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    image, mask = sample.image, sample.mask
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != mask.shape:
        raise DatasetError(
            f"sample {sample.id}: image {image.shape} and mask {mask.shape} do not pair; "
            "expected (H, W, 3) and (H, W) (run `segnas data check`)"
        )
    return image, mask


class _Normalise:
    """uint8 HWC arrays to normalised CHW float tensors, and masks to int64."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.fill = tuple(int(round(255 * m)) for m in self.mean)
        """Padding colour: the mean, which normalises to (almost) zero."""
        self._shift = torch.tensor(self.mean) * 255
        self._scale = torch.tensor(self.std) * 255

    def tensors(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = torch.from_numpy(np.array(image, dtype=np.float32, order="C"))  # (H, W, 3)
        out = pixels.sub_(self._shift).div_(self._scale).permute(2, 0, 1).contiguous()  # (3, H, W)
        return out, torch.from_numpy(np.array(mask, dtype=np.int64, order="C"))

    def pad(self, image: np.ndarray, mask: np.ndarray, h: int, w: int):
        """Pad bottom/right to at least (h, w): image with the mean, mask with ignore."""
        ph, pw = max(h - mask.shape[0], 0), max(w - mask.shape[1], 0)
        if ph == 0 and pw == 0:
            return image, mask
        padded = np.empty((mask.shape[0] + ph, mask.shape[1] + pw, 3), np.uint8)
        padded[:] = self.fill
        padded[: mask.shape[0], : mask.shape[1]] = image
        labels = np.full(padded.shape[:2], IGNORE_INDEX, np.uint8)
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
    ) -> None:
        super().__init__(mean, std)
        self.crop = _pair(crop_size, "crop_size")
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale: got {scale!r}, expected 0 < low <= high")
        self.scale = (float(scale[0]), float(scale[1]))
        self.flip = flip

    def __call__(
        self, sample: Sample, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = _checked(sample)
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
    ) -> None:
        super().__init__(mean, std)
        self.crop = None if crop_size is None else _pair(crop_size, "crop_size")

    def __call__(
        self, sample: Sample, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = _checked(sample)
        if self.crop is not None:
            ch, cw = self.crop
            image, mask = self.pad(image, mask, ch, cw)
            y0, x0 = (mask.shape[0] - ch) // 2, (mask.shape[1] - cw) // 2
            image, mask = image[y0 : y0 + ch, x0 : x0 + cw], mask[y0 : y0 + ch, x0 : x0 + cw]
        return self.tensors(image, mask)
