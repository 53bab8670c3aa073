"""Pose as heatmaps: Gaussian targets, argmax decoding, flips, the visibility-weighted MSE.

One coordinate convention throughout, segnas' keypoint convention: (x, y) in pixel units with
pixel (0, 0) spanning [0, 1) x [0, 1), so a pixel's centre sits at +0.5. A heatmap at stride s
has cells covering input pixels [j*s, (j+1)*s); cell j's centre is at (j + 0.5) * s, so input
coordinate x sits at heatmap coordinate x / s - 0.5 (where integer heatmap coordinates are cell
centres). SimpleBaselines and HRNet put pixel centres at integers and round each target to a
cell; here each Gaussian sits at the keypoint's exact sub-cell position, so targets, decoding
and flips agree with each other without half-pixel corrections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from segnas.data.pose_transforms import apply_affine, invert_affine
from segnas.train.losses import upsample_to

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def heatmap_size(input_size: Sequence[int], stride: int = 4) -> tuple[int, int]:
    """(h, w) of the heatmaps for an (H, W) input: ceil(H / s), ceil(W / s), what a network
    whose stride-2 layers pad gives, so every input pixel falls in a cell."""
    height, width = (int(n) for n in input_size)
    return -(-height // stride), -(-width // stride)


def input_to_heatmap(xy: Array, stride: int = 4) -> Array:
    """Input pixel coordinates -> heatmap coordinates (integers are cell centres)."""
    return xy / stride - 0.5


def heatmap_to_input(uv: Array, stride: int = 4) -> Array:
    """Heatmap coordinates (integers are cell centres) -> input pixel coordinates."""
    return (uv + 0.5) * stride


def batch_heatmap_targets(
    keypoints: torch.Tensor, input_size: Sequence[int], stride: int = 4, sigma: float = 2.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K, 3) keypoints (x, y, visibility) on an (H, W) input -> (B, K, h, w) Gaussian
    targets and (B, K) weights, on the keypoints' device (targets made on the GPU need no copy).

    A keypoint gets an unnormalised Gaussian of `sigma` heatmap cells (peak 1 where it sits on a
    cell centre, not truncated) and weight 1 when visible (> 0) and inside [0, W) x [0, H);
    otherwise an all-zero map and weight 0, so the loss ignores it.
    """
    height, width = (int(n) for n in input_size)
    h, w = heatmap_size(input_size, stride)
    dtype = keypoints.dtype if keypoints.is_floating_point() else torch.float32
    kp = keypoints.to(dtype)
    x, y, vis = kp.unbind(-1)
    inside = (vis > 0) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    u = torch.where(inside, input_to_heatmap(x, stride), 0.0)  # NaN-free for exp
    v = torch.where(inside, input_to_heatmap(y, stride), 0.0)
    cols = torch.arange(w, device=kp.device, dtype=dtype)
    rows = torch.arange(h, device=kp.device, dtype=dtype)
    gx = torch.exp(-((cols - u[..., None]) ** 2) / (2 * sigma**2))  # (B, K, w)
    gy = torch.exp(-((rows - v[..., None]) ** 2) / (2 * sigma**2))  # (B, K, h)
    weights = inside.to(dtype)
    maps = gy[..., :, None] * gx[..., None, :] * weights[..., None, None]
    return maps, weights


def heatmap_targets(
    keypoints: np.ndarray, input_size: Sequence[int], stride: int = 4, sigma: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """(K, 3) keypoints of one sample -> (K, h, w) float32 targets and (K,) float32 weights,
    as `batch_heatmap_targets` (computed in float64, then rounded once)."""
    kp = torch.as_tensor(np.asarray(keypoints, dtype=np.float64).reshape(-1, 3))
    maps, weights = batch_heatmap_targets(kp[None], input_size, stride, sigma)
    return maps[0].numpy().astype(np.float32), weights[0].numpy().astype(np.float32)


def decode_heatmaps(heatmaps: Array, stride: int = 4) -> tuple[Array, Array]:
    """(B, K, h, w) heatmaps -> (B, K, 2) coordinates in input pixels and (B, K) peak values.

    The argmax cell moves a quarter cell toward its higher neighbour along x and along y (where
    both neighbours on that axis exist; none when they are equal), as SimpleBaselines and HRNet
    do, then becomes input pixels by the module's convention. Numpy in, numpy out. Peaks <= 0
    keep their coordinates; callers that trust only positive peaks read `maxvals`.
    """
    is_numpy = isinstance(heatmaps, np.ndarray)
    hm = torch.as_tensor(heatmaps).detach()
    if hm.ndim != 4:
        raise ValueError(f"heatmaps must be (B, K, h, w), got shape {tuple(hm.shape)}")
    h, w = hm.shape[-2:]
    flat = hm.reshape(*hm.shape[:2], h * w)
    maxvals, index = flat.max(dim=-1)
    py, px = index // w, index % w

    def step(plus: torch.Tensor, minus: torch.Tensor, interior: torch.Tensor) -> torch.Tensor:
        diff = (flat.gather(-1, plus[..., None]) - flat.gather(-1, minus[..., None]))[..., 0]
        return torch.where(interior, torch.sign(diff), 0.0) * 0.25

    dx = step(
        py * w + (px + 1).clamp(max=w - 1), py * w + (px - 1).clamp(min=0), (px > 0) & (px < w - 1)
    )
    dy = step(
        (py + 1).clamp(max=h - 1) * w + px, (py - 1).clamp(min=0) * w + px, (py > 0) & (py < h - 1)
    )
    uv = torch.stack([px.to(dx.dtype) + dx, py.to(dy.dtype) + dy], dim=-1)
    coords = heatmap_to_input(uv.float(), stride)
    if is_numpy:
        return coords.numpy(), maxvals.numpy()
    return coords, maxvals


def to_image_coordinates(
    coords: np.ndarray | torch.Tensor, image_to_crop: np.ndarray | torch.Tensor
) -> np.ndarray:
    """Decoded (..., K, 2) crop coordinates -> original image coordinates (float64).

    Takes the affine the data side warps with, image -> crop (2x3, or (B, 2, 3) for a batch),
    and inverts it here. It must act on this module's continuous coordinates (pixel centres at
    +0.5); an OpenCV `warpAffine` matrix M (centres at integers) corresponds to
    T(+0.5) M T(-0.5).
    """
    return apply_affine(coords, invert_affine(image_to_crop))


def flip_permutation(num_joints: int, flip_pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Joint order after a horizontal flip: each (left, right) pair trades places."""
    order = list(range(num_joints))
    seen: set[int] = set()
    for a, b in flip_pairs:
        if not (0 <= a < num_joints and 0 <= b < num_joints) or {a, b} & seen or a == b:
            raise ValueError(f"bad flip pairs {list(flip_pairs)} for {num_joints} joints")
        seen |= {a, b}
        order[a], order[b] = b, a
    return order


def flip_heatmaps(
    heatmaps: Array, flip_pairs: Sequence[tuple[int, int]], shift: bool = False
) -> Array:
    """Heatmaps (..., K, h, w) predicted on a horizontally flipped input -> the original's:
    mirrored along x, left and right joints swapped, ready to average with the plain prediction.

    Under this module's convention the mirror alone is exact (cell j of a flipped input of
    width w*s is cell w-1-j of the original), so `shift` defaults to off. `shift=True` adds
    HRNet's one-column move to the right (`out[..., 1:] = out[..., :-1]`, column 0 kept),
    which compensates for HRNet's integer-centred targets; with these targets it would bias
    flip-averaged predictions by half a cell to the right.
    """
    order = flip_permutation(heatmaps.shape[-3], flip_pairs)
    if isinstance(heatmaps, np.ndarray):
        out = heatmaps[..., ::-1][..., order, :, :].copy()
        if shift:
            out[..., 1:] = out[..., :-1].copy()
        return out
    out = heatmaps.flip(-1)[..., order, :, :]
    if shift:
        out[..., 1:] = out[..., :-1].clone()
    return out


def flip_keypoints(
    keypoints: np.ndarray, width: float, flip_pairs: Sequence[tuple[int, int]]
) -> np.ndarray:
    """(..., K, 3) keypoints of an image `width` pixels wide -> those of its mirror image:
    x -> width - x (pixel i's centre i + 0.5 lands on pixel width-1-i's centre) and left and
    right joints swapped. Applied twice it is the identity; invisible points flip too."""
    kp = np.array(keypoints, copy=True)
    kp[..., 0] = width - kp[..., 0]
    return kp[..., flip_permutation(kp.shape[-2], flip_pairs), :]


def pose_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """SimpleBaselines' JointsMSELoss with target weights: 0.5 x mean over batch, joints and
    pixels of (w (pred - target))^2, with (B, K) weights w (visibility: 0 or 1).

    Weighted-out joints still count in the mean's denominator, as there; weights enter squared
    (the same for 0/1). `pred` is resized bilinearly to the target's size when they differ.
    """
    if pred.shape[-2:] != target.shape[-2:]:
        pred = upsample_to(pred, target.shape[-2:])
    diff = (pred - target) * weights[..., None, None].to(pred.dtype)
    return 0.5 * diff.pow(2).mean()
