"""The pose task plug-in: target tables, loss, summable PCKh/OKS statistics, reward, options."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from segnas.search.settings import SearchSettings
from segnas.settings_io import FieldError, SettingsError, apply_overrides
from segnas.tasks import make_task, task_for_source, task_options
from segnas.tasks.pose import PoseSettings, PoseTask, pose_target, split_target
from segnas.tasks.pose_heatmaps import heatmap_targets, pose_loss
from segnas.tasks.pose_metrics import oks

SIZE = (64, 48)


def centre(i: int, j: int) -> tuple[float, float]:
    """Input coordinates of heatmap cell (row i, column j)'s centre at stride 4: decoded
    exactly (a Gaussian on a cell centre has equal neighbours, so no quarter shift)."""
    return 4 * j + 2.0, 4 * i + 2.0


def batch(points: list[np.ndarray], head: float = 8.0, area: float = 900.0) -> torch.Tensor:
    return torch.stack([torch.tensor(pose_target(p, SIZE, head, area)) for p in points])


def predicted(points: list[np.ndarray]) -> torch.Tensor:
    """Logits whose decoded keypoints are `points` (all drawn visible)."""
    maps = []
    for p in points:
        shown = np.array(p, dtype=np.float32)
        shown[:, 2] = 2
        maps.append(torch.tensor(heatmap_targets(shown, SIZE)[0]))
    return torch.stack(maps)


TRUTH = np.array([[*centre(5, 3), 2], [*centre(10, 8), 1], [*centre(2, 2), 0]], np.float32)


def test_target_table_round_trips():
    table = pose_target(TRUTH, SIZE, head_size=8.0, area=900.0)
    assert table.shape == (5, 3) and table.dtype == np.float32
    points, head, area, size = split_target(torch.tensor(table)[None])
    assert np.array_equal(points[0].numpy(), TRUTH)
    assert head.tolist() == [8.0] and area.tolist() == [900.0] and size == SIZE
    assert pose_target(TRUTH, SIZE)[-2, :2].tolist() == [0.0, 0.0]  # unknown normalisers
    with pytest.raises(ValueError, match=r"\(B, K \+ 2, 3\)"):
        split_target(torch.zeros(1, 5, 2))


def test_loss_is_the_heatmap_mse_and_ignores_unlabelled_joints():
    task = PoseTask(PoseSettings(num_keypoints=3))
    target = batch([TRUTH])
    maps, weights = heatmap_targets(TRUTH, SIZE)
    exact = torch.tensor(maps)[None]
    assert task.loss(exact, target).item() == pytest.approx(0.0, abs=1e-12)
    noise = torch.rand_like(exact)
    expected = pose_loss(noise, exact, torch.tensor(weights)[None])
    assert task.loss(noise, target).item() == pytest.approx(expected.item())
    changed = noise.clone()
    changed[:, 2] = 5.0  # the unlabelled joint's channel
    assert task.loss(changed, target).item() == pytest.approx(expected.item())
    half = torch.nn.functional.interpolate(noise, scale_factor=0.5)  # smaller logits resized
    assert task.loss(half, target).shape == ()


def test_perfect_prediction_scores_one():
    task = PoseTask(PoseSettings(num_keypoints=3))
    stats = task.statistics(predicted([TRUTH]), batch([TRUTH]))
    figures = task.metrics(stats)
    assert figures["pckh"] == 1.0 and figures["pckh_0.1"] == 1.0
    assert figures["mean_oks"] == pytest.approx(1.0)
    assert figures["per_joint_pckh"] == [1.0, 1.0, None]  # joint 2 is not labelled
    assert task.reward(stats) == 1.0


def test_pckh_counts_by_hand():
    """Head size 8: threshold 4 px at 0.5 and 0.8 px at 0.1. Joint 0 off by 8 px (wrong at
    both), joint 1 off by 0 (right at both); a second person: joint 0 off by 4 px (right at 0.5
    only, on the boundary), joint 1 off by 12 px."""
    second = np.array([[*centre(6, 6), 2], [*centre(12, 2), 2], [0, 0, 0]], np.float32)
    guess_one = TRUTH.copy()
    guess_one[0, 0] += 8
    guess_two = second.copy()
    guess_two[0, 1] += 4
    guess_two[1, 0] += 12
    task = PoseTask(PoseSettings(num_keypoints=3))
    stats = task.statistics(predicted([guess_one, guess_two]), batch([TRUTH, second]))
    k = 3
    assert stats[:k].tolist() == [2, 2, 0]  # labelled
    assert stats[k : 2 * k].tolist() == [1, 1, 0]  # within 4 px
    assert stats[2 * k : 3 * k].tolist() == [0, 1, 0]  # within 0.8 px
    figures = task.metrics(stats)
    assert figures["pckh"] == 0.5 and figures["pckh_0.1"] == 0.25
    assert figures["per_joint_pckh"] == [0.5, 0.5, None]


def test_oks_matches_the_cocoeval_formula():
    sigmas = (0.05, 0.08, 0.1)
    task = PoseTask(PoseSettings(num_keypoints=3, oks_sigmas=sigmas, reward="oks"))
    guess = TRUTH.copy()
    guess[0, :2] += (4, -4)
    guess[1, 0] -= 8
    stats = task.statistics(predicted([guess]), batch([TRUTH], area=300.0))
    expected = oks(guess[:, :2], TRUTH, 300.0, sigmas)
    assert task.metrics(stats)["mean_oks"] == pytest.approx(expected, rel=1e-9)
    assert task.reward(stats) == pytest.approx(expected, rel=1e-9)
    no_area = task.statistics(predicted([guess]), batch([TRUTH], area=0.0))
    assert math.isnan(task.metrics(no_area)["mean_oks"]) and task.reward(no_area) == 0.0


def test_statistics_add_up_over_batches():
    rng = np.random.default_rng(0)
    task = PoseTask(PoseSettings(num_keypoints=3))
    people = []
    for _ in range(6):
        p = np.zeros((3, 3), np.float32)
        p[:, 0], p[:, 1] = rng.uniform(0, 48, 3), rng.uniform(0, 64, 3)
        p[:, 2] = rng.integers(0, 3, 3)
        people.append(p)
    guesses = [p + np.float32([rng.normal(0, 3), rng.normal(0, 3), 0]) for p in people]
    whole = task.statistics(predicted(guesses), batch(people))
    parts = task.statistics(predicted(guesses[:2]), batch(people[:2])) + task.statistics(
        predicted(guesses[2:]), batch(people[2:])
    )
    assert torch.allclose(whole, parts)
    assert task.empty_statistics().shape == whole.shape


def test_nothing_labelled_gives_nan_and_reward_zero():
    task = PoseTask(PoseSettings(num_keypoints=3))
    hidden = TRUTH.copy()
    hidden[:, 2] = 0
    stats = task.statistics(predicted([hidden]), batch([hidden]))
    figures = task.metrics(stats)
    assert math.isnan(figures["pckh"]) and math.isnan(figures["mean_oks"])
    assert task.reward(stats) == 0.0
    assert task.card_metrics(stats, ["a", "b", "c"])["pckh"] is None


def test_settings_are_checked_and_round_trip_through_make_task():
    with pytest.raises(FieldError, match="reward"):
        PoseSettings(reward="ap")
    with pytest.raises(FieldError, match="oks_sigmas"):
        PoseSettings(num_keypoints=3, oks_sigmas=(0.1, 0.1))
    task = make_task("pose", options={"num_keypoints": 8, "reward": "oks"})
    assert isinstance(task, PoseTask) and task.out_channels == 8
    assert make_task("pose", options=task.options()) == task
    assert len(PoseSettings().sigmas()) == 17 and PoseSettings(num_keypoints=8).sigmas()[0] == 0.072


def test_search_settings_choose_the_pose_reward_and_the_dataset_the_rest():
    settings = apply_overrides(
        SearchSettings(task="pose"), ["pose.reward=oks", "pose.threshold=0.3"]
    )
    assert task_options(settings) == {"reward": "oks", "threshold": 0.3}
    source = SimpleNamespace(name="mpii", keypoint_names=["a", "b", "c"], flip_pairs=[(0, 2)])
    task = task_for_source("pose", source, task_options(settings))
    assert task.settings.reward == "oks" and task.settings.threshold == 0.3
    assert task.settings.num_keypoints == 3 and task.settings.flip_pairs == ((0, 2),)
    assert task.settings.aspect == 1.0 and task.settings.augment_rotation == 30.0  # MPII's crops
    default = task_for_source("pose", source, task_options(SearchSettings(task="pose")))
    assert default.settings.reward == "pckh" and default.settings.threshold == 0.5
    with pytest.raises(SettingsError, match=r"pose.reward: got 'ap', expected one of"):
        apply_overrides(SearchSettings(task="pose"), ["pose.reward=ap"])
