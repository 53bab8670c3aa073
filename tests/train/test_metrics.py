"""Metrics and the reward on hand-made confusion matrices."""

from __future__ import annotations

import math

import pytest
import torch

from segnas.train.metrics import confusion_matrix, metrics_from_confusion, reward_from_confusion


def test_confusion_matrix_counts_and_ignores() -> None:
    target = torch.tensor([[0, 1, 1, 255], [2, 2, 2, 0]])
    pred = torch.tensor([[0, 1, 0, 1], [2, 1, 2, 0]])
    cm = confusion_matrix(pred, target, 3)
    assert cm.tolist() == [[2, 0, 0], [1, 1, 0], [0, 1, 2]]


def test_confusion_matrix_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError, match="label 3 >= num_classes 3"):
        confusion_matrix(torch.zeros(4), torch.tensor([0, 1, 3, 255]), 3)


def test_perfect_prediction_gives_reward_one() -> None:
    cm = torch.diag(torch.tensor([50, 10, 5]))
    assert reward_from_confusion(cm) == pytest.approx(1.0)
    m = metrics_from_confusion(cm)
    assert m.mean_iou == m.fw_iou == m.pixel_accuracy == m.mean_accuracy == pytest.approx(1.0)


def test_reward_by_hand() -> None:
    # rows = truth (bg, a, b), columns = prediction
    cm = torch.tensor([[10, 2, 0], [1, 3, 0], [0, 1, 4]])
    iou_a = 3 / (4 + 6 - 3)
    iou_b = 4 / (5 + 4 - 4)
    miou = (iou_a + iou_b) / 2
    fw = (4 * iou_a + 5 * iou_b) / 9
    acc = (3 / 4 + 4 / 5) / 2
    assert reward_from_confusion(cm) == pytest.approx((miou * fw * acc) ** (1 / 3))
    m = metrics_from_confusion(cm)
    assert m.pixel_accuracy == pytest.approx(17 / 21)
    assert m.per_class_iou[0] == pytest.approx(10 / (12 + 11 - 10))


def test_class_predicted_but_absent_is_left_out_of_the_means() -> None:
    # class 2 never in the labels but predicted on 2 pixels of class 1
    cm = torch.tensor([[5, 0, 0], [0, 2, 2], [0, 0, 0]])
    iou_1 = 2 / 4
    assert reward_from_confusion(cm) == pytest.approx((iou_1 * iou_1 * 0.5) ** (1 / 3))
    m = metrics_from_confusion(cm)
    assert m.per_class_iou[2] == 0.0  # predicted, never right
    assert m.mean_iou == pytest.approx((1.0 + iou_1) / 2)


def test_empty_class_gives_nan_iou_and_does_not_count() -> None:
    cm = torch.tensor([[5, 0, 0], [0, 3, 0], [0, 0, 0]])
    m = metrics_from_confusion(cm)
    assert math.isnan(m.per_class_iou[2])
    assert m.mean_iou == pytest.approx(1.0)
    assert reward_from_confusion(cm) == pytest.approx(1.0)


def test_reward_is_zero_without_foreground_and_stays_in_unit_interval() -> None:
    assert reward_from_confusion(torch.tensor([[5, 0], [0, 0]])) == 0.0
    assert reward_from_confusion(torch.tensor([[0, 5], [5, 0]])) == 0.0
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        cm = torch.randint(0, 20, (6, 6), generator=generator)
        assert 0.0 <= reward_from_confusion(cm) <= 1.0


def test_reward_without_background_class_counts_every_class() -> None:
    cm = torch.tensor([[4, 0], [0, 0]])
    assert reward_from_confusion(cm, background=None) == pytest.approx(1.0)
