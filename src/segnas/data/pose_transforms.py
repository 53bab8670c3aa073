"""Person crops for pose: the affine crop of SimpleBaselines / HRNet, with its augmentation.

Crop rule (training and validation alike): the person box is widened around its centre to
`aspect` (w / h; 3:4 for COCO, 1:1 for MPII), enlarged by `padding` (1.25), widened again to
the output's aspect if that differs, and mapped onto the output so that it fills it (its longer
side, relative to the output, meets the output's edges). Training then draws, as
SimpleBaselines and HRNet do:

- scale: the window's size times ``clip(1 + f * N(0, 1), 1 - f, 1 + f)``, f = `scale` (0.30
  COCO, 0.25 MPII), so the person appears up to 30 % smaller or larger;
- rotation: with probability `rotation_prob` (0.6), ``clip(r * N(0, 1), -2 r, 2 r)`` degrees,
  r = `rotation` (40 COCO, 30 MPII): r is the spread, the clip twice that, as in their code;
  otherwise none. A positive angle turns the picture counter-clockwise on screen;
- horizontal flip with probability 1/2: the crop is mirrored (x -> W - x, which sends pixel i
  to pixel W - 1 - i under segnas' half-open pixels) and each (left, right) keypoint pair
  swaps rows.

Every call draws the same four numbers from the generator, so a crop depends only on its seed.
Images are resampled bilinearly with PIL (OpenCV is not a dependency); PIL's affine transform
uses the same convention as segnas, pixel (0, 0) spanning [0, 1). Each crop comes with its
2 x 3 image -> crop affine (float64), so predictions in the crop can be mapped back with
`invert_affine`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from segnas.data.source import DatasetError, Sample
from segnas.data.transforms import IMAGENET_MEAN, IMAGENET_STD

PADDING = 1.25
"""How much larger than the (aspect-corrected) person box the crop window is."""
COCO_ASPECT = 0.75
"""Width / height of COCO crops (256 x 192 inputs)."""
MPII_ASPECT = 1.0


@dataclass(frozen=True)
class PoseAugment:
    """Random scale, rotation and flip of the person crop (see the module docstring)."""

    scale: float = 0.30
    """f: the crop window is scaled by a factor in [1 - f, 1 + f]."""
    rotation: float = 40.0
    """r (degrees): spread of the rotation, clipped at 2 r."""
    rotation_prob: float = 0.6
    """How often a crop is rotated at all."""
    flip: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.scale < 1:
            raise ValueError(f"PoseAugment.scale: got {self.scale!r}, expected 0 <= f < 1")
        if not 0 <= self.rotation <= 180:
            raise ValueError(f"PoseAugment.rotation: got {self.rotation!r}, expected 0..180")
        if not 0 <= self.rotation_prob <= 1:
            raise ValueError(
                f"PoseAugment.rotation_prob: got {self.rotation_prob!r}, expected 0..1"
            )


COCO_AUGMENT = PoseAugment(scale=0.30, rotation=40.0)
MPII_AUGMENT = PoseAugment(scale=0.25, rotation=30.0)
NO_AUGMENT = PoseAugment(scale=0.0, rotation=0.0, rotation_prob=0.0, flip=False)


def crop_window(
    box: np.ndarray, aspect: float, padding: float = PADDING
) -> tuple[np.ndarray, np.ndarray]:
    """(centre (2,), size (w, h)) of the crop window of an (x, y, w, h) box: widened around its
    centre to `aspect` (w / h), then enlarged by `padding`."""
    x, y, w, h = (float(v) for v in box)
    centre = np.array([x + w / 2, y + h / 2])
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return centre, np.array([w, h]) * padding


def crop_affine(
    centre: np.ndarray,
    size: np.ndarray,
    output: tuple[int, int],
    rotation: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """The 2 x 3 float64 image -> crop map that sends a window of `size` (w, h) at `centre`,
    turned by `rotation` degrees, onto an `output` (height, width) crop; the window is widened
    to the output's aspect first, so the map keeps angles. `flip` mirrors the crop."""
    out_h, out_w = output
    w, h = float(size[0]), float(size[1])
    if w * out_h < h * out_w:
        w = h * out_w / out_h
    zoom = out_w / w
    angle = math.radians(rotation)
    cos, sin = math.cos(angle) * zoom, math.sin(angle) * zoom
    linear = np.array([[cos, sin], [-sin, cos]])  # counter-clockwise on screen (y down)
    shift = np.array([out_w / 2, out_h / 2]) - linear @ np.asarray(centre, np.float64)
    affine = np.concatenate([linear, shift[:, None]], axis=1)
    if flip:
        affine = np.array([[-1.0, 0.0, out_w], [0.0, 1.0, 0.0]]) @ np.vstack([affine, [0, 0, 1]])
    return affine


def _float64(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def invert_affine(affine: np.ndarray | torch.Tensor) -> np.ndarray:
    """The inverse of a 2x3 affine (or a (..., 2, 3) stack): y = A x + t -> x = A^-1 (y - t);
    for a crop's affine, the crop -> image map."""
    m = _float64(affine)
    linear_inv = np.linalg.inv(m[..., :2])
    offset = -(linear_inv @ m[..., 2:])
    return np.concatenate([linear_inv, offset], axis=-1)


def apply_affine(
    points: np.ndarray | torch.Tensor | Sequence, affine: np.ndarray | torch.Tensor
) -> np.ndarray:
    """(..., K, 2) points through a 2x3 affine, or a (..., 2, 3) stack matching the points'
    leading axes; extra columns after x, y (visibility, scores) are dropped."""
    p, m = _float64(points)[..., :2], _float64(affine)
    return p @ np.swapaxes(m[..., :2], -1, -2) + m[..., None, :, 2]


def warp_image(
    image: np.ndarray, affine: np.ndarray, output: tuple[int, int], fill: Sequence[int]
) -> np.ndarray:
    """(h, w, 3) uint8: `image` resampled bilinearly through `affine`, `fill` outside it."""
    back = invert_affine(affine)  # PIL asks, for each output pixel, where to read the input
    picture = Image.fromarray(np.ascontiguousarray(image))
    warped = picture.transform(
        (output[1], output[0]),
        Image.Transform.AFFINE,
        tuple(back.ravel().tolist()),
        resample=Image.Resampling.BILINEAR,
        fillcolor=tuple(fill),
    )
    return np.asarray(warped)


def warp_keypoints(
    keypoints: np.ndarray,
    affine: np.ndarray,
    output: tuple[int, int],
    flip_pairs: Sequence[tuple[int, int]] = (),
    flipped: bool = False,
) -> np.ndarray:
    """(K, 3) float32: positions through `affine`, visibility 0 where they leave the crop
    [0, w) x [0, h), and the pairs' rows swapped when the crop is `flipped`."""
    out = np.array(keypoints, dtype=np.float64).reshape(-1, 3)
    out[:, :2] = apply_affine(out[:, :2], affine)
    x, y = out[:, 0], out[:, 1]
    inside = (x >= 0) & (x < output[1]) & (y >= 0) & (y < output[0])
    out[~inside, 2] = 0.0
    if flipped:
        for left, right in flip_pairs:
            out[[left, right]] = out[[right, left]]
    return out.astype(np.float32)


@dataclass(frozen=True)
class PoseCrop:
    """One person crop: what the network sees and how to get back to the image."""

    image: np.ndarray
    """(h, w, 3) uint8."""
    keypoints: np.ndarray
    """(K, 3) float32 in crop pixels; visibility 0 for points outside the crop."""
    affine: np.ndarray
    """(2, 3) float64 image -> crop map."""


def _output(size: int | Sequence[int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in pair):
        raise ValueError(f"output_size: got {size!r}, expected a positive int or (height, width)")
    return pair  # type: ignore[return-value]


class PoseTransform:
    """Crop (and, with `augment`, augment) one person; `__call__` gives the network's input.

    ``transform(sample, rng) -> (image (3, h, w) float32 normalised, keypoints (K, 3) float32
    in crop pixels)``; heatmaps are the task's business. `crop` also returns the affine.
    `augment` defaults to the class's `default_augment` (none here).
    """

    default_augment: PoseAugment = NO_AUGMENT

    def __init__(
        self,
        output_size: int | Sequence[int],
        flip_pairs: Sequence[tuple[int, int]] = (),
        *,
        aspect: float | None = None,
        padding: float = PADDING,
        augment: PoseAugment | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.output = _output(output_size)
        self.aspect = float(aspect) if aspect is not None else self.output[1] / self.output[0]
        if not self.aspect > 0 or not padding > 0:
            raise ValueError(f"aspect {aspect!r} and padding {padding!r} must be > 0")
        self.padding = float(padding)
        self.flip_pairs = tuple((int(a), int(b)) for a, b in flip_pairs)
        self.augment = augment or self.default_augment
        self.fill = tuple(int(round(255 * m)) for m in mean)
        """Colour outside the image: the mean, which normalises to (almost) zero."""
        self._shift = torch.tensor([float(m) for m in mean]) * 255
        self._scale = torch.tensor([float(s) for s in std]) * 255

    def draw(self, rng: np.random.Generator | None) -> tuple[float, float, bool]:
        """(window scale, rotation in degrees, flip) for one crop; always four draws."""
        if rng is None:
            return 1.0, 0.0, False
        normal, uniform = rng.standard_normal(2), rng.random(2)
        f, r = self.augment.scale, self.augment.rotation
        scale = float(np.clip(1 + f * normal[0], 1 - f, 1 + f))
        turned = uniform[0] < self.augment.rotation_prob
        rotation = float(np.clip(r * normal[1], -2 * r, 2 * r)) if turned else 0.0
        return scale, rotation, bool(self.augment.flip and uniform[1] < 0.5)

    def crop(self, sample: Sample, rng: np.random.Generator | None = None) -> PoseCrop:
        """The person crop of `sample`; `rng` None means no augmentation (validation)."""
        image, keypoints = _checked(sample, self.flip_pairs)
        height, width = image.shape[:2]
        box = sample.box if sample.box is not None else np.array([0, 0, width, height])
        scale, rotation, flip = self.draw(rng)
        centre, size = crop_window(box, self.aspect, self.padding)
        affine = crop_affine(centre, size * scale, self.output, rotation, flip)
        return PoseCrop(
            warp_image(image, affine, self.output, self.fill),
            warp_keypoints(keypoints, affine, self.output, self.flip_pairs, flip),
            affine,
        )

    def affine(self, sample: Sample) -> np.ndarray:
        """The unaugmented image -> crop map of `sample` (to map predictions back)."""
        height, width = sample.image.shape[:2]
        box = sample.box if sample.box is not None else np.array([0, 0, width, height])
        centre, size = crop_window(box, self.aspect, self.padding)
        return crop_affine(centre, size, self.output)

    def __call__(
        self, sample: Sample, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        crop = self.crop(sample, rng)
        return self.normalise(crop.image), torch.from_numpy(crop.keypoints)

    def normalise(self, image: np.ndarray) -> torch.Tensor:
        """(h, w, 3) uint8 crop -> (3, h, w) float32 normalised as the encoder expects."""
        pixels = torch.from_numpy(np.array(image, dtype=np.float32, order="C"))
        return pixels.sub_(self._shift).div_(self._scale).permute(2, 0, 1).contiguous()


class PoseTrainTransform(PoseTransform):
    """`PoseTransform` that augments, with COCO's ranges unless `augment` says otherwise."""

    default_augment = COCO_AUGMENT


class PoseEvalTransform(PoseTransform):
    """`PoseTransform` without randomness: the same crop rule, the generator ignored (so it
    can stand where a dataset passes one)."""

    def __call__(
        self, sample: Sample, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return super().__call__(sample, None)


def _checked(
    sample: Sample, flip_pairs: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    image, keypoints = sample.image, sample.keypoints
    if keypoints is None:
        raise DatasetError(f"sample {sample.id}: has no keypoints (expected some for pose)")
    if image.ndim != 3 or image.shape[2] != 3 or keypoints.ndim != 2 or keypoints.shape[1] != 3:
        raise DatasetError(
            f"sample {sample.id}: image {image.shape} and keypoints {keypoints.shape}; expected "
            "(H, W, 3) and (K, 3) (run `segnas data check --task pose`)"
        )
    bad = [pair for pair in flip_pairs if max(pair) >= len(keypoints) or min(pair) < 0]
    if bad:
        raise DatasetError(
            f"sample {sample.id}: flip pair {bad[0]} outside keypoints 0..{len(keypoints) - 1}"
        )
    return image, keypoints
