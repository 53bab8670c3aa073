"""Pose heatmaps: targets and decoding agree on the pixel convention, flips and affines round
trip, and the loss matches JointsMSELoss by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from segnas.tasks.pose_heatmaps import (
    apply_affine,
    batch_heatmap_targets,
    decode_heatmaps,
    flip_heatmaps,
    flip_keypoints,
    flip_permutation,
    heatmap_size,
    heatmap_targets,
    invert_affine,
    pose_loss,
    to_image_coordinates,
)

SIZES = [(64, 48), (256, 192), (96, 160), (66, 50)]  # the last not a multiple of the stride
PAIRS = [(0, 1), (3, 4)]  # joint 2 is central


def random_keypoints(data, size: tuple[int, int], k: int, margin: float) -> np.ndarray:
    height, width = size
    coord = st.floats(0.0, 1.0, allow_nan=False)
    rows = [
        [
            margin + data.draw(coord) * (width - 2 * margin - 1e-3),
            margin + data.draw(coord) * (height - 2 * margin - 1e-3),
            2.0,
        ]
        for _ in range(k)
    ]
    return np.array(rows, dtype=np.float32)


@settings(max_examples=50)
@given(data=st.data(), size=st.sampled_from(SIZES))
def test_targets_then_decoding_round_trip_within_a_quarter_cell(data, size) -> None:
    """Argmax plus the quarter shift lands within s/4 per axis (1 input pixel at stride 4)
    where the peak cell has neighbours on both sides: more than s in from the border."""
    stride = 4
    kp = random_keypoints(data, size, k=5, margin=stride + 1e-3)
    maps, weights = heatmap_targets(kp, size, stride=stride, sigma=2.0)
    coords, maxvals = decode_heatmaps(maps[None], stride=stride)
    assert maps.shape == (5, *heatmap_size(size, stride)) and np.all(weights == 1)
    assert np.all(np.abs(coords[0] - kp[:, :2]) <= stride / 4 + 1e-4)
    assert np.all(maxvals > math.exp(-0.5 / (2 * 2.0**2)) - 1e-6)  # >= 1/2 cell off per axis


@settings(max_examples=50)
@given(data=st.data(), size=st.sampled_from(SIZES))
def test_round_trip_anywhere_in_the_image_within_half_a_cell(data, size) -> None:
    """At the border the peak cell lacks a neighbour and is not shifted: within s/2."""
    kp = random_keypoints(data, size, k=5, margin=0.0)
    maps, _ = heatmap_targets(kp, size, stride=4, sigma=2.0)
    coords, _ = decode_heatmaps(maps[None], stride=4)
    assert np.all(np.abs(coords[0] - kp[:, :2]) <= 2.0 + 1e-4)


def test_exact_cell_centres_decode_exactly_with_peak_one() -> None:
    stride, sigma = 4, 2.0
    kp = np.array([[(5 + 0.5) * stride, (3 + 0.5) * stride, 1.0]], dtype=np.float32)
    maps, weights = heatmap_targets(kp, (64, 48), stride=stride, sigma=sigma)
    assert maps.shape == (1, 16, 12) and weights.tolist() == [1.0]
    assert maps[0, 3, 5] == 1.0 and maps[0].max() == 1.0
    assert maps[0, 3, 6] == pytest.approx(math.exp(-1 / (2 * sigma**2)))
    assert maps[0, 5, 4] == pytest.approx(math.exp(-(4 + 1) / (2 * sigma**2)))
    coords, maxvals = decode_heatmaps(maps[None], stride=stride)
    np.testing.assert_array_equal(coords[0, 0], kp[0, :2])
    assert maxvals[0, 0] == 1.0


def test_invisible_and_outside_points_get_zero_weight_and_zero_maps() -> None:
    height, width = 32, 24
    kp = np.array(
        [
            [10.0, 10.0, 0.0],  # not visible
            [-0.1, 10.0, 2.0],  # left of the image
            [width, 10.0, 2.0],  # x = W is outside: pixels span [0, W)
            [10.0, height, 1.0],  # y = H is outside
            [np.nan, np.nan, 0.0],  # unlabelled, NaN coordinates
            [width - 1e-3, 0.0, 1.0],  # inside, on the edges
        ],
        dtype=np.float32,
    )
    maps, weights = heatmap_targets(kp, (height, width))
    assert weights.tolist() == [0, 0, 0, 0, 0, 1]
    assert not np.any(maps[:5]) and maps[5].max() > 0.5
    assert maps.dtype == np.float32 and weights.dtype == np.float32
    assert np.all(np.isfinite(maps))


def test_batched_torch_targets_equal_the_numpy_ones() -> None:
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(0, 64, (2, 6, 2)), rng.integers(0, 3, (2, 6, 1))], axis=-1)
    maps, weights = batch_heatmap_targets(torch.tensor(kp, dtype=torch.float32), (64, 64))
    for b in range(2):
        ref_maps, ref_weights = heatmap_targets(kp[b], (64, 64))
        torch.testing.assert_close(maps[b], torch.from_numpy(ref_maps), atol=1e-6, rtol=0)
        assert weights[b].tolist() == ref_weights.tolist()


def test_quarter_shift_moves_toward_the_higher_neighbour() -> None:
    hm = torch.zeros(1, 3, 6, 8)
    hm[0, 0, 2, 3] = 1.0
    hm[0, 0, 2, 4], hm[0, 0, 2, 2] = 0.5, 0.2  # right higher: +1/4 in x
    hm[0, 0, 1, 3], hm[0, 0, 3, 3] = 0.3, 0.1  # upper higher: -1/4 in y
    hm[0, 1, 4, 5] = 1.0
    hm[0, 1, 4, 4] = hm[0, 1, 4, 6] = 0.4  # tie in x: no shift
    hm[0, 1, 5, 5] = 0.6  # y: the lower neighbour wins
    hm[0, 2, 0, 7] = 1.0  # corner cell: no neighbour pair, no shift
    hm[0, 2, 0, 6] = hm[0, 2, 1, 7] = 0.9
    coords, maxvals = decode_heatmaps(hm, stride=4)
    expected = [[(3.25 + 0.5) * 4, (1.75 + 0.5) * 4], [(5 + 0.5) * 4, (4.25 + 0.5) * 4]]
    expected.append([(7 + 0.5) * 4, (0 + 0.5) * 4])
    torch.testing.assert_close(coords[0], torch.tensor(expected))
    assert maxvals[0].tolist() == [1.0, 1.0, 1.0]
    coords_np, maxvals_np = decode_heatmaps(hm.numpy(), stride=4)
    assert isinstance(coords_np, np.ndarray) and isinstance(maxvals_np, np.ndarray)
    np.testing.assert_array_equal(coords_np, coords.numpy())


def test_flipped_input_targets_flip_back_to_the_original_ones() -> None:
    height, width, stride = 64, 48, 4
    rng = np.random.default_rng(1)
    kp = np.concatenate([rng.uniform(2, 46, (5, 2)), np.array([[2], [2], [1], [0], [2]])], axis=1)
    maps, weights = heatmap_targets(kp, (height, width), stride=stride)
    flipped_kp = flip_keypoints(kp, width, PAIRS)
    flipped_maps, flipped_weights = heatmap_targets(flipped_kp, (height, width), stride=stride)
    back = flip_heatmaps(flipped_maps, PAIRS)  # the exact mirror (shift off)
    np.testing.assert_allclose(back, maps, atol=1e-6)
    assert flipped_weights[flip_permutation(5, PAIRS)].tolist() == weights.tolist()
    back_torch = flip_heatmaps(torch.from_numpy(flipped_maps)[None], PAIRS)
    np.testing.assert_allclose(back_torch[0].numpy(), maps, atol=1e-6)
    # HRNet's shift moves everything one column right (column 0 is kept as it was)
    shifted = flip_heatmaps(torch.from_numpy(flipped_maps)[None], PAIRS, shift=True)[0]
    np.testing.assert_allclose(shifted[..., 1:].numpy(), maps[..., :-1], atol=1e-6)
    np.testing.assert_allclose(shifted[..., 0].numpy(), maps[..., 0], atol=1e-6)
    np.testing.assert_allclose(flip_heatmaps(flipped_maps, PAIRS, shift=True), shifted.numpy())


def test_flip_heatmaps_leaves_its_input_alone() -> None:
    hm = torch.rand(2, 5, 4, 6)
    copy = hm.clone()
    flip_heatmaps(hm, PAIRS, shift=True)
    torch.testing.assert_close(hm, copy)


@settings(max_examples=50)
@given(
    xs=st.lists(st.floats(-5, 105, allow_nan=False), min_size=5, max_size=5),
    ys=st.lists(st.floats(-5, 105, allow_nan=False), min_size=5, max_size=5),
)
def test_flip_keypoints_twice_is_the_identity(xs, ys) -> None:
    kp = np.stack([xs, ys, [0, 1, 2, 2, 1]], axis=1).astype(np.float64)
    np.testing.assert_allclose(
        flip_keypoints(flip_keypoints(kp, 100, PAIRS), 100, PAIRS), kp, atol=1e-9
    )


def test_flip_keypoints_maps_pixel_centres_and_swaps_joints() -> None:
    kp = np.array([[0.5, 1, 2], [9.5, 2, 1], [5, 3, 2]], dtype=np.float32)
    flipped = flip_keypoints(kp, 10, [(0, 1)])
    np.testing.assert_array_equal(flipped, [[0.5, 2, 1], [9.5, 1, 2], [5, 3, 2]])


def test_bad_flip_pairs_are_refused() -> None:
    for pairs in ([(0, 5)], [(0, 1), (1, 2)], [(2, 2)]):
        with pytest.raises(ValueError):
            flip_permutation(5, pairs)


def image_to_crop(centre, scale: float, angle_deg: float, crop_centre) -> np.ndarray:
    """A rotation and scale about `centre`, moved to `crop_centre` (as a crop warp does)."""
    a = math.radians(angle_deg)
    linear = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    offset = np.asarray(crop_centre) - linear @ np.asarray(centre)
    return np.concatenate([linear, offset[:, None]], axis=1)


def test_affine_inverse_round_trips_points() -> None:
    affine = image_to_crop((320.0, 240.0), 0.37, 25.0, (96.0, 128.0))
    points = np.random.default_rng(2).uniform(0, 640, (3, 7, 2))
    crop = apply_affine(points, affine)
    np.testing.assert_allclose(to_image_coordinates(crop, affine), points, atol=1e-4)
    np.testing.assert_allclose(invert_affine(invert_affine(affine)), affine, atol=1e-12)
    batch = np.stack([affine, image_to_crop((10.0, 20.0), 2.0, -90.0, (0.0, 0.0)), affine])
    np.testing.assert_allclose(to_image_coordinates(apply_affine(points, batch), batch), points)


def test_decoded_crop_coordinates_map_back_to_the_image() -> None:
    """Keypoints on cell centres of the crop decode exactly, so the whole chain is exact."""
    stride, crop_size = 4, (256, 192)
    affine = image_to_crop((300.0, 200.0), 0.8, 30.0, (96.0, 128.0))
    cells = np.array([[3, 5], [20, 40], [47, 10]])
    crop_kp = (cells + 0.5) * stride
    image_kp = to_image_coordinates(crop_kp, affine)
    maps, _ = heatmap_targets(np.c_[apply_affine(image_kp, affine), np.ones(3)], crop_size)
    decoded, _ = decode_heatmaps(torch.from_numpy(maps)[None], stride=stride)
    np.testing.assert_allclose(
        to_image_coordinates(decoded, affine[None]), image_kp[None], atol=1e-4
    )


def test_loss_is_zero_for_identical_maps_and_ignores_weighted_out_joints() -> None:
    target = torch.rand(2, 3, 8, 6)
    weights = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    assert pose_loss(target.clone(), target, weights).item() == 0.0
    pred = torch.rand(2, 3, 8, 6)
    changed = pred.clone()
    changed[0, 1] += 5.0
    assert pose_loss(changed, target, weights).item() == pose_loss(pred, target, weights).item()


def test_loss_matches_a_hand_computation() -> None:
    pred = torch.tensor([[[[1.0, 2.0]], [[0.0, 0.0]], [[3.0, 3.0]]]])  # (1, 3, 1, 2)
    target = torch.tensor([[[[0.0, 0.0]], [[9.0, 9.0]], [[1.0, 3.0]]]])
    weights = torch.tensor([[1.0, 0.0, 1.0]])
    # squared weighted errors 1, 4 | 0, 0 | 4, 0: sum 9 over 6 entries, times 1/2
    assert pose_loss(pred, target, weights).item() == pytest.approx(0.5 * 9 / 6)


def test_loss_resizes_predictions_bilinearly_and_trains() -> None:
    pred = torch.rand(2, 4, 8, 6, requires_grad=True)
    target = torch.rand(2, 4, 16, 12)
    weights = torch.ones(2, 4)
    loss = pose_loss(pred, target, weights)
    up = F.interpolate(pred, size=(16, 12), mode="bilinear", align_corners=False)
    assert loss.item() == pytest.approx(0.5 * F.mse_loss(up, target).item(), rel=1e-5)
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
