"""Polyak averaging and the loss terms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from segnas.train.losses import distillation_loss, segmentation_loss, total_loss, upsample_to
from segnas.train.polyak import PolyakAverage, warmup_decay


def test_polyak_follows_the_recurrence_and_swaps_back() -> None:
    layer = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    avg = PolyakAverage(layer, decay=0.9)
    expected = 1.0
    for step in range(1, 4):
        with torch.no_grad():
            layer.weight.fill_(1.0 + step)
        avg.update()
        expected = 0.9 * expected + 0.1 * (1.0 + step)
    with avg.swapped_in():
        assert layer.weight[0, 0].item() == pytest.approx(expected)
    assert layer.weight[0, 0].item() == pytest.approx(4.0)
    avg.copy_to_module()
    assert layer.weight[0, 0].item() == pytest.approx(expected)


def test_polyak_warmup_follows_timm_convention() -> None:
    """decay_t = min(decay, (1 + t) / (10 + t)): 0.1, 2/11, ... until it reaches decay."""
    assert [warmup_decay(0.99, t) for t in (0, 1, 10)] == pytest.approx([0.1, 2 / 11, 11 / 20])
    assert warmup_decay(0.9, 80) == 0.9 and warmup_decay(0.9, 79) == pytest.approx(80 / 89)
    layer = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(0.0)
    avg = PolyakAverage(layer, decay=0.99, warmup=True)
    expected = 0.0
    for step in range(12):
        with torch.no_grad():
            layer.weight.fill_(float(step + 1))
        avg.update()
        d = min(0.99, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * (step + 1)
    with avg.swapped_in():
        assert layer.weight.item() == pytest.approx(expected)
    # Without warm-up the same 12 steps leave the average near its start.
    fixed = PolyakAverage(layer, decay=0.99)
    fixed.average = [torch.zeros_like(layer.weight)]
    for _ in range(12):
        fixed.update()
    with fixed.swapped_in():
        assert layer.weight.item() < 2.0 < expected


def test_polyak_decay_range_is_checked() -> None:
    with pytest.raises(ValueError, match="polyak decay"):
        PolyakAverage(nn.Linear(1, 1), 1.0)


def test_segmentation_loss_upsamples_to_the_mask() -> None:
    logits = torch.zeros(1, 3, 2, 2)
    logits[:, 1] = 10.0
    target = torch.ones(1, 8, 8, dtype=torch.long)
    target[0, 0, 0] = 255
    assert segmentation_loss(logits, target).item() == pytest.approx(0.0, abs=1e-3)
    assert segmentation_loss(logits, torch.zeros_like(target)).item() > 9


@settings(max_examples=25, deadline=None)
@given(
    low=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    high=st.tuples(st.integers(1, 24), st.integers(1, 24)),
    classes=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_fused_loss_equals_cross_entropy_of_upsampled_logits(low, high, classes, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(2, classes, *low, generator=gen) * 4).requires_grad_()
    target = torch.randint(0, classes, (2, *high), generator=gen)
    target[0, 0] = 255
    ours = segmentation_loss(logits, target)
    reference = F.cross_entropy(upsample_to(logits, high), target, ignore_index=255)
    assert torch.allclose(ours, reference, atol=1e-5)
    (g_ours,) = torch.autograd.grad(ours, logits)
    (g_ref,) = torch.autograd.grad(reference, logits)
    assert torch.allclose(g_ours, g_ref, atol=1e-6)


def test_loss_trains_after_the_same_sizes_were_used_in_inference_mode() -> None:
    with torch.inference_mode():
        upsample_to(torch.randn(1, 2, 3, 5), (11, 13))
    logits = torch.randn(1, 2, 3, 5, requires_grad=True)
    target = torch.randint(0, 2, (1, 11, 13))
    segmentation_loss(logits, target).backward()
    distillation_loss(logits, torch.randn(1, 2, 3, 5)).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_distillation_is_mse_to_resized_teacher() -> None:
    student = torch.zeros(1, 2, 4, 4)
    teacher = torch.full((1, 2, 2, 2), 3.0, dtype=torch.float16)
    assert distillation_loss(student, teacher).item() == pytest.approx(9.0)


def test_total_loss_weights_each_term() -> None:
    out = torch.randn(2, 3, 4, 4)
    aux = [torch.randn(2, 3, 2, 2), torch.randn(2, 3, 4, 4)]
    target = torch.randint(0, 3, (2, 8, 8))
    teacher = torch.randn(2, 3, 2, 2)
    expected = (
        segmentation_loss(out, target)
        + 0.15 * sum(segmentation_loss(a, target) for a in aux)
        + 0.3 * distillation_loss(out, teacher)
    )
    got = total_loss(out, aux, target, aux_weight=0.15, teacher=teacher, distill_weight=0.3)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize(
    "shape, size",
    [
        ((2, 3, 16, 16), (64, 64)),
        ((1, 2, 5, 7), (33, 20)),
        ((1, 1, 9, 9), (4, 4)),
        ((2, 2, 1, 1), (8, 8)),
    ],
)
def test_upsample_equals_interpolate(shape, size) -> None:
    from torch.nn.functional import interpolate

    from segnas.train.losses import upsample_to

    x = torch.randn(*shape)
    expected = interpolate(x, size=size, mode="bilinear", align_corners=False)
    assert torch.allclose(upsample_to(x, size), expected, atol=1e-5)
