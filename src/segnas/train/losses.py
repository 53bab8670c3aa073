"""Losses: cross-entropy at mask size, auxiliary terms, distillation to cached teacher logits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F

from segnas.data.source import IGNORE_INDEX


@lru_cache(maxsize=64)
def _interpolation_matrix(n_in: int, n_out: int, device: torch.device, dtype: torch.dtype):
    """(n_out, n_in) weights of 1-D bilinear resizing with align_corners=False.

    Built outside inference mode: the cache outlives the call, and an inference tensor could
    not take part in a later training step.
    """
    with torch.inference_mode(False):
        return _build_interpolation_matrix(n_in, n_out).to(device, dtype)


def _build_interpolation_matrix(n_in: int, n_out: int) -> torch.Tensor:
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp(min=0)
    low = src.floor().long().clamp(max=n_in - 1)
    high = (low + 1).clamp(max=n_in - 1)
    frac = src - low
    matrix = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    matrix.index_put_((rows, low), 1 - frac, accumulate=True)
    matrix.index_put_((rows, high), frac, accumulate=True)
    return matrix


def upsample_to(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, K, h, w) logits to `size`, equal to F.interpolate's.

    Written as two small matrix products: on the CPU this is about twice as fast as
    `F.interpolate` forward and backward at the sizes the search uses.
    """
    (h, w), (H, W) = logits.shape[-2:], tuple(size)
    if (h, w) == (H, W):
        return logits
    rows = _interpolation_matrix(h, H, logits.device, logits.dtype)  # (H, h)
    cols = _interpolation_matrix(w, W, logits.device, logits.dtype)  # (W, w)
    return rows @ logits @ cols.T  # (B, K, H, W)


class _UpsampledCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of bilinearly upsampled logits, upsampling and softmax fused.

    Equal to `F.cross_entropy(upsample_to(logits, size), target, ignore_index=...)`, but the
    full-size maps are touched a few times instead of a dozen: the softmax is computed in place
    in the upsampled buffer and becomes the gradient in place in the backward pass. At search
    time these maps are 16 times larger than the decoder's own, so this is a large share of a
    step.
    """

    @staticmethod
    def forward(ctx, logits, target, ignore_index):  # (B, K, h, w), (B, H, W) -> ()
        (h, w), (H, W) = logits.shape[-2:], target.shape[-2:]
        rows = _interpolation_matrix(h, H, logits.device, logits.dtype)  # (H, h)
        cols = _interpolation_matrix(w, W, logits.device, logits.dtype)  # (W, w)
        up = rows @ logits @ cols.T  # (B, K, H, W)
        valid = target != ignore_index  # (B, H, W)
        safe = torch.where(valid, target, 0).unsqueeze(1)  # (B, 1, H, W)
        picked = up.gather(1, safe)  # (B, 1, H, W)
        top = up.amax(1, keepdim=True)
        probs = torch.sub(up, top, out=up).exp_()
        total = probs.sum(1, keepdim=True)
        probs.div_(total)
        per_pixel = (total.log_() + top - picked).squeeze(1)  # (B, H, W): -log p[target]
        scale = valid.to(logits.dtype) / valid.sum()  # 0/0 -> nan, as F.cross_entropy gives
        ctx.save_for_backward(probs, safe, scale, rows, cols)
        ctx.spent = False
        return (per_pixel * scale).sum()

    @staticmethod
    def backward(ctx, grad):
        if ctx.spent:  # the softmax buffer became the gradient in place the first time
            raise RuntimeError("segmentation_loss: backward through the same graph twice")
        ctx.spent = True
        probs, safe, scale, rows, cols = ctx.saved_tensors
        probs.scatter_add_(1, safe, probs.new_full(safe.shape, -1.0))  # softmax - one-hot
        probs.mul_((scale * grad).unsqueeze(1))
        return rows.T @ probs @ cols, None, None


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Cross-entropy on logits upsampled to the mask size. (B, K, h, w), (B, H, W) -> scalar."""
    if logits.shape[-2:] == target.shape[-2:]:
        return F.cross_entropy(logits, target, ignore_index=ignore_index)
    return _UpsampledCrossEntropy.apply(logits, target, ignore_index)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """MSE between student logits and teacher logits resized to the student's size."""
    return F.mse_loss(student, upsample_to(teacher.to(student.dtype), student.shape[-2:]))


def total_loss(
    out: torch.Tensor,
    aux: Sequence[torch.Tensor],
    target: torch.Tensor,
    *,
    aux_weight: float,
    teacher: torch.Tensor | None = None,
    distill_weight: float = 0.0,
    task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = segmentation_loss,
) -> torch.Tensor:
    """Main loss + aux_weight x each auxiliary loss (+ distill_weight x distillation).

    `task_loss(logits, target)` is the task's loss on one head (`Task.loss`); auxiliary heads
    predict the same target, and distillation matches the teacher's outputs whatever they mean.
    """
    loss = task_loss(out, target)
    for logits in aux:
        loss = loss + aux_weight * task_loss(logits, target)
    if teacher is not None and distill_weight > 0:
        loss = loss + distill_weight * distillation_loss(out, teacher)
    return loss
