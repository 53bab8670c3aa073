"""The depth task: berHu by hand, every figure on hand-made arrays, missing depth ignored."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segnas.tasks import DepthSettings, DepthTask, make_task, task_for_source
from segnas.tasks.depth import (
    berhu_loss,
    depth_metrics,
    depth_statistics,
    estimate_scale,
    valid_depth,
)
from segnas.tasks.segmentation import SegmentationTask


def test_berhu_matches_a_hand_computation() -> None:
    pred = torch.tensor([1.0, 2.0, 3.0, 4.0])
    target = torch.tensor([1.0, 1.0, 1.0, 0.0])  # last pixel missing
    valid = target > 0
    # errors 0, 1, 2; c = 0.2 x 2 = 0.4; 0 -> 0, 1 -> (1 + 0.16) / 0.8, 2 -> (4 + 0.16) / 0.8
    expected = (0 + 1.16 / 0.8 + 4.16 / 0.8) / 3
    assert float(berhu_loss(pred, target, valid)) == pytest.approx(expected)


def test_berhu_below_c_is_l1() -> None:
    pred = torch.tensor([1.0, 1.1, 2.0])
    target = torch.tensor([1.0, 1.0, 1.0])
    # c = 0.2, |e| = 0, 0.1, 1: 0.1 <= c stays linear
    expected = (0 + 0.1 + (1 + 0.04) / 0.4) / 3
    assert float(berhu_loss(pred, target, target > 0)) == pytest.approx(expected)


def test_berhu_single_pixel() -> None:
    pred, target = torch.tensor([4.0]), torch.tensor([1.0])
    # e = 3, c = 0.6: (9 + 0.36) / 1.2
    assert float(berhu_loss(pred, target, target > 0)) == pytest.approx(9.36 / 1.2)


def test_berhu_all_missing_is_zero_with_zero_gradient() -> None:
    pred = torch.tensor([1.0, 2.0], requires_grad=True)
    target = torch.tensor([0.0, float("nan")])
    loss = berhu_loss(pred, target, valid_depth(target))
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None
    assert torch.equal(pred.grad, torch.zeros(2))


def test_berhu_exact_prediction_is_zero_and_finite() -> None:
    pred = torch.tensor([2.0, 3.0], requires_grad=True)
    loss = berhu_loss(pred, torch.tensor([2.0, 3.0]), torch.tensor([True, True]))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(pred.grad).all()


def test_valid_depth_drops_zero_nan_inf_sentinel_and_far() -> None:
    t = torch.tensor([0.0, float("nan"), float("inf"), 9.0, 2.0, 12.0, 65.535])
    got = valid_depth(t, invalid_value=65.535, max_depth=10.0)
    assert got.tolist() == [False, False, False, True, True, False, False]


def test_every_figure_on_hand_made_arrays() -> None:
    pred = torch.tensor([[2.0, 1.0, 1.5, 7.0]])
    target = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the 7.0 has no depth
    stats = depth_statistics(pred, target, valid_depth(target))
    m = depth_metrics(stats)
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 0.25) / 3))
    assert m["rmse_log"] == pytest.approx(math.sqrt((math.log(2) ** 2 + math.log(1.5) ** 2) / 3))
    assert m["abs_rel"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert m["sq_rel"] == pytest.approx((1 + 0 + 0.25) / 3)
    assert m["delta1"] == pytest.approx(1 / 3)  # ratios 2, 1, 1.5
    assert m["delta2"] == pytest.approx(2 / 3)  # 1.5 < 1.5625
    assert m["delta3"] == pytest.approx(2 / 3)  # 2 > 1.953
    # the ratio is symmetric: under-estimates count as over-estimates do
    flipped = depth_metrics(depth_statistics(target[:, :3], pred[:, :3], pred[:, :3] > 0))
    assert flipped["delta1"] == pytest.approx(m["delta1"])


def test_figures_match_numpy_on_random_maps() -> None:
    rng = np.random.default_rng(0)
    target = rng.uniform(0.5, 10, (2, 9, 7)).astype(np.float32)
    target[0, :3] = 0
    pred = (target * rng.uniform(0.6, 1.6, target.shape)).astype(np.float32) + 0.1
    keep = target > 0
    p, t = pred[keep].astype(np.float64), target[keep].astype(np.float64)
    ratio = np.maximum(p / t, t / p)
    m = depth_metrics(
        depth_statistics(torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(keep))
    )
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((p - t) ** 2)))
    assert m["rmse_log"] == pytest.approx(np.sqrt(np.mean((np.log(p) - np.log(t)) ** 2)))
    assert m["abs_rel"] == pytest.approx(np.mean(np.abs(p - t) / t))
    assert m["sq_rel"] == pytest.approx(np.mean((p - t) ** 2 / t))
    for k, limit in enumerate((1.25, 1.25**2, 1.25**3), start=1):
        assert m[f"delta{k}"] == pytest.approx(np.mean(ratio < limit))


def test_statistics_add_up_over_batches() -> None:
    task = DepthTask(DepthSettings(scale=2.0))
    logits = torch.randn(4, 1, 4, 4)
    target = torch.rand(4, 16, 16) * 5
    whole = task.statistics(logits, target)
    halves = task.statistics(logits[:2], target[:2]) + task.statistics(logits[2:], target[2:])
    assert torch.allclose(whole, halves)


def test_no_valid_pixel_gives_nan_figures_and_zero_reward() -> None:
    task = DepthTask(DepthSettings(scale=1.0))
    stats = task.statistics(torch.zeros(1, 1, 2, 2), torch.zeros(1, 8, 8))
    assert all(math.isnan(v) for v in task.metrics(stats).values())
    assert task.reward(stats) == 0.0
    assert all(v is None for v in task.card_metrics(stats, ["depth"]).values())


def test_decode_is_scale_times_exp_and_the_loss_ignores_missing_depth() -> None:
    task = DepthTask(DepthSettings(scale=3.0))
    logits = torch.zeros(1, 1, 2, 2, requires_grad=True)
    assert torch.allclose(task.decode(logits), torch.full((1, 2, 2), 3.0))
    target = torch.full((1, 8, 8), 3.0)
    target[0, 0] = float("nan")
    target[0, 1] = 0.0
    loss = task.loss(logits, target)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    ("reward", "expected"),
    [("delta1", 1 / 3), ("delta2", 2 / 3), ("delta3", 2 / 3), ("abs_rel", 1 - 0.5)],
)
def test_reward_choices(reward: str, expected: float) -> None:
    task = DepthTask(DepthSettings(reward=reward, scale=1.0))
    logits = torch.tensor([math.log(2.0), 0.0, math.log(1.5)]).view(1, 1, 1, 3)
    target = torch.ones(1, 1, 3)
    assert task.reward(task.statistics(logits, target)) == pytest.approx(expected)


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="reward"):
        DepthSettings(reward="miou")
    with pytest.raises(ValueError, match="max_depth"):
        DepthSettings(max_depth=0)
    with pytest.raises(ValueError, match="task 'keypoints'"):
        make_task("keypoints")


def test_scale_is_the_median_valid_depth_to_three_digits() -> None:
    maps = [np.array([[0.0, 1.0], [2.0, np.nan]]), np.array([[3.14159, 100.0]])]
    assert estimate_scale(maps) == 2.57  # median of 1, 2, 3.14159, 100
    assert estimate_scale([np.array([[1.23456, 1.23456]])]) == 1.23
    assert estimate_scale([np.zeros((2, 2))]) == 1.0


def test_task_for_source_estimates_the_scale_and_keeps_a_given_one(tmp_path) -> None:
    from segnas.data import open_dataset

    source = open_dataset("builtin:size=64,train=6,val=2", task="depth", cache_dir=tmp_path)
    task = task_for_source("depth", source)
    depths = [source[i].depth for i in range(len(source))]
    assert task.options()["scale"] == estimate_scale(depths)
    assert task_for_source("depth", source, {"scale": 7.0}).options()["scale"] == 7.0
    seg = open_dataset("builtin:size=64,train=6,val=2", cache_dir=tmp_path)
    assert task_for_source("segmentation", seg) == SegmentationTask(seg.num_classes, 0)


def test_segmentation_task_gives_the_confusion_figures() -> None:
    from segnas.train.metrics import confusion_matrix, metrics_from_confusion, reward_from_confusion

    task = SegmentationTask(3, background=0)
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    target[0, 0, 0] = 255
    cm = task.statistics(logits, target)
    assert torch.equal(cm, confusion_matrix(logits.argmax(1), target, 3))
    assert task.reward(cm) == reward_from_confusion(cm, 0)
    assert task.metrics(cm) == metrics_from_confusion(cm).to_dict()
