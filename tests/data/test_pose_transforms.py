"""The affine person crop: where keypoints land, the way back, flips, points leaving the crop,
and determinism of the augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from segnas.data import DatasetError, Sample
from segnas.data.pose_transforms import (
    COCO_AUGMENT,
    MPII_AUGMENT,
    NO_AUGMENT,
    PoseAugment,
    PoseEvalTransform,
    PoseTrainTransform,
    PoseTransform,
    apply_affine,
    crop_affine,
    crop_window,
    invert_affine,
    warp_keypoints,
)

PAIRS = ((0, 1),)


def _sample(box=(10.0, 20.0, 30.0, 40.0), keypoints=None, h=80, w=60) -> Sample:
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    if keypoints is None:
        keypoints = [[25.0, 40.0, 2.0], [10.0, 20.0, 1.0], [0.0, 0.0, 0.0]]
    return Sample(
        "s",
        image,
        None,
        keypoints=np.array(keypoints, np.float32),
        box=None if box is None else np.array(box, np.float32),
    )


def test_crop_window_widens_to_the_aspect_and_pads():
    centre, size = crop_window(np.array([10, 20, 30, 40]), 0.75)
    np.testing.assert_allclose(centre, [25, 40])
    np.testing.assert_allclose(size, [37.5, 50])  # already 3:4, times 1.25
    centre, size = crop_window(np.array([0, 0, 60, 40]), 0.75, padding=1.0)
    np.testing.assert_allclose(centre, [30, 20])
    np.testing.assert_allclose(size, [60, 80])  # too wide: the height grows
    _, size = crop_window(np.array([0, 0, 20, 40]), 1.0)
    np.testing.assert_allclose(size, [50, 50])


def test_unaugmented_crop_puts_keypoints_where_expected_and_back():
    transform = PoseTransform((64, 48), PAIRS, aspect=0.75)
    crop = transform.crop(_sample())
    assert crop.image.shape == (64, 48, 3) and crop.image.dtype == np.uint8
    assert crop.affine.dtype == np.float64 and crop.affine.shape == (2, 3)
    # window 37.5 x 50 around (25, 40) onto 48 x 64: zoom 1.28, centre to (24, 32)
    np.testing.assert_allclose(crop.keypoints[0], [24, 32, 2], atol=1e-5)
    np.testing.assert_allclose(crop.keypoints[1], [24 - 15 * 1.28, 32 - 20 * 1.28, 1], atol=1e-5)
    back = apply_affine(crop.keypoints[:2, :2], invert_affine(crop.affine))
    np.testing.assert_allclose(back, [[25, 40], [10, 20]], atol=1e-4)
    np.testing.assert_array_equal(transform.affine(_sample()), crop.affine)


def test_crop_copies_pixels_under_the_half_open_convention():
    """A window of the output's size at whole-pixel offsets copies the image exactly; a 2x
    zoom reads output pixel (1, 1), centre (1.5, 1.5), at image point (0.75, 0.75)."""
    sample = _sample(box=(5, 3, 8, 8))
    crop = PoseTransform(8, padding=1.0).crop(sample)
    np.testing.assert_array_equal(crop.image, sample.image[3:11, 5:13])
    zoomed = PoseTransform(8, padding=1.0).crop(_sample(box=(-1, -1, 4, 4)))
    weights = np.array([0.75, 0.25])
    pixels = sample.image[0:2, 0:2].astype(np.float64)
    expected = np.einsum("i,j,ijc->c", weights, weights, pixels)
    np.testing.assert_allclose(zoomed.image[3, 3], expected, atol=1.0)  # PIL truncates


def test_flip_mirrors_x_swaps_pairs_and_twice_is_identity():
    sample = _sample(box=(5, 3, 8, 8), keypoints=[[6.5, 4.5, 2], [10.25, 9.0, 1], [7, 7, 2]])
    output = (8, 8)
    centre, size = crop_window(sample.box, 1.0, 1.0)
    plain = crop_affine(centre, size, output)
    flipped = crop_affine(centre, size, output, flip=True)
    straight = warp_keypoints(sample.keypoints, plain, output, PAIRS, False)
    mirrored = warp_keypoints(sample.keypoints, flipped, output, PAIRS, True)
    np.testing.assert_allclose(mirrored[0], [8 - straight[1, 0], straight[1, 1], 1])
    np.testing.assert_allclose(mirrored[1], [8 - straight[0, 0], straight[0, 1], 2])
    np.testing.assert_allclose(mirrored[2], [8 - straight[2, 0], straight[2, 1], 2])
    # pixel 1 (centre 1.5) of the crop is pixel 8 - 1 - 1 = 6 (centre 6.5) of the flipped one
    assert straight[0, 0] == pytest.approx(1.5) and mirrored[1, 0] == pytest.approx(6.5)
    mirror = np.array([[-1.0, 0.0, 8.0], [0.0, 1.0, 0.0]])
    twice = warp_keypoints(mirrored, mirror, output, PAIRS, True)
    np.testing.assert_allclose(twice, straight, atol=1e-6)
    np.testing.assert_allclose(mirror @ np.vstack([flipped, [0, 0, 1]]), plain, atol=1e-12)
    flips = PoseAugment(scale=0.0, rotation=0.0, rotation_prob=0.0, flip=True)
    transform = PoseTrainTransform(8, PAIRS, padding=1.0, augment=flips)
    seen = set()
    for seed in range(12):
        crop = transform.crop(sample, np.random.default_rng(seed))
        is_flipped = crop.affine[0, 0] < 0
        seen.add(is_flipped)
        if is_flipped:
            np.testing.assert_array_equal(crop.image, sample.image[3:11, 5:13][:, ::-1])
            np.testing.assert_allclose(crop.keypoints, mirrored, atol=1e-6)
        else:
            np.testing.assert_allclose(crop.keypoints, straight, atol=1e-6)
    assert seen == {False, True}


def test_points_leaving_the_crop_lose_their_visibility():
    keypoints = [[13.0, 6.0, 2], [12.999, 6.0, 2], [5.0, 3.0, 1], [4.999, 6.0, 2], [6, 10.99, 1]]
    sample = _sample(box=(5, 3, 8, 8), keypoints=keypoints)
    crop = PoseTransform(8, padding=1.0).crop(sample)
    assert crop.keypoints[:, 2].tolist() == [0, 2, 1, 0, 1]  # [0, 8) x [0, 8), half open
    np.testing.assert_allclose(crop.keypoints[0, :2], [8, 3])  # positions are kept
    far = PoseTransform(8, padding=1.0).crop(_sample(box=(40, 40, 8, 8)))
    assert far.keypoints[:, 2].tolist() == [0, 0, 0]


def test_rotation_turns_the_picture_counter_clockwise():
    affine = crop_affine(np.array([10.0, 10.0]), np.array([20.0, 20.0]), (20, 20), rotation=90)
    np.testing.assert_allclose(apply_affine([[15.0, 10.0]], affine), [[10.0, 5.0]], atol=1e-9)
    np.testing.assert_allclose(apply_affine([[10.0, 15.0]], affine), [[15.0, 10.0]], atol=1e-9)


def test_crop_affine_keeps_angles_when_the_window_is_off_aspect():
    affine = crop_affine(np.array([0.0, 0.0]), np.array([10.0, 40.0]), (20, 20))
    np.testing.assert_allclose(affine[:, :2], np.eye(2) * 0.5)  # the longer side fits


def test_augmentation_is_deterministic_and_draws_four_numbers():
    sample = _sample()
    transform = PoseTrainTransform((32, 24), PAIRS, augment=COCO_AUGMENT)
    first = transform.crop(sample, np.random.default_rng(7))
    again = transform.crop(sample, np.random.default_rng(7))
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.keypoints, again.keypoints)
    np.testing.assert_array_equal(first.affine, again.affine)
    affines = {transform.crop(sample, np.random.default_rng(s)).affine.tobytes() for s in range(8)}
    assert len(affines) == 8
    for augment in (COCO_AUGMENT, MPII_AUGMENT, NO_AUGMENT):
        rng = np.random.default_rng(3)
        PoseTrainTransform(16, augment=augment).crop(sample, rng)
        reference = np.random.default_rng(3)
        reference.standard_normal(2), reference.random(2)
        assert rng.random() == reference.random()


def test_augmentation_ranges():
    transform = PoseTrainTransform(16, augment=MPII_AUGMENT)
    draws = [transform.draw(np.random.default_rng(s)) for s in range(400)]
    scales = np.array([d[0] for d in draws])
    rotations = np.array([d[1] for d in draws])
    assert scales.min() >= 0.75 and scales.max() <= 1.25 and scales.std() > 0.1
    assert np.abs(rotations).max() <= 60 and 0.5 < np.mean(rotations != 0) < 0.7
    assert 0.4 < np.mean([d[2] for d in draws]) < 0.6
    assert PoseTransform(16).draw(None) == (1.0, 0.0, False)


def test_tensors_and_evaluation_ignore_the_generator():
    sample = _sample()
    image, keypoints = PoseEvalTransform((32, 24), PAIRS)(sample, np.random.default_rng(1))
    again, _ = PoseEvalTransform((32, 24), PAIRS)(sample, np.random.default_rng(2))
    assert image.shape == (3, 32, 24) and image.dtype == torch.float32
    assert keypoints.shape == (3, 3) and keypoints.dtype == torch.float32
    assert torch.equal(image, again)
    assert abs(float(image.mean())) < 3
    whole = PoseEvalTransform(16).crop(_sample(box=None))  # no box: the whole 60 x 80 image
    zoom = 16 / (80 * 1.25)  # widened to 80 x 80, padded to 100 x 100
    np.testing.assert_allclose(whole.affine, [[zoom, 0, 8 - 30 * zoom], [0, zoom, 8 - 40 * zoom]])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="output_size: got 0"):
        PoseTransform(0)
    with pytest.raises(ValueError, match="PoseAugment.scale: got 1.0"):
        PoseAugment(scale=1.0)
    with pytest.raises(ValueError, match="PoseAugment.rotation_prob"):
        PoseAugment(rotation_prob=2)
    with pytest.raises(DatasetError, match=r"sample s: flip pair \(0, 5\) outside keypoints 0..2"):
        PoseTransform(8, ((0, 5),)).crop(_sample())
    with pytest.raises(DatasetError, match="sample s: has no keypoints"):
        PoseTransform(8).crop(Sample("s", np.zeros((4, 4, 3), np.uint8), None))


finite = st.floats(-500, 500, allow_nan=False)


@given(
    box=st.tuples(finite, finite, st.floats(1, 300), st.floats(1, 300)),
    rotation=st.floats(-180, 180),
    flip=st.booleans(),
    output=st.tuples(st.integers(4, 64), st.integers(4, 64)),
    points=st.lists(st.tuples(finite, finite), min_size=1, max_size=5),
)
def test_the_inverse_affine_maps_crop_points_back(box, rotation, flip, output, points):
    centre, size = crop_window(np.array(box), output[1] / output[0])
    affine = crop_affine(centre, size, output, rotation, flip)
    there = apply_affine(points, affine)
    np.testing.assert_allclose(apply_affine(there, invert_affine(affine)), points, atol=1e-6)
    np.testing.assert_allclose(apply_affine([centre], affine), [[output[1] / 2, output[0] / 2]])
