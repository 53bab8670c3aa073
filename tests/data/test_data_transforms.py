"""Paired transforms and the epoch-aware dataset: shapes, values, determinism, workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from segnas.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DatasetError,
    EvalTransform,
    Sample,
    SegmentationDataset,
    TrainTransform,
)
from segnas.data.source import SegmentationSource


def make_sample(h: int = 20, w: int = 30, seed: int = 0) -> Sample:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = (np.arange(w)[None, :] * np.ones((h, 1), int) % 5).astype(np.uint8)  # column stripes
    return Sample(f"s{seed}", image, mask)


def denormalise(image: torch.Tensor) -> np.ndarray:
    mean, std = (
        torch.tensor(IMAGENET_MEAN)[:, None, None],
        torch.tensor(IMAGENET_STD)[:, None, None],
    )
    return ((image * std + mean) * 255).permute(1, 2, 0).numpy()


def test_eval_transform_normalises_without_moving_pixels():
    sample = make_sample()
    image, mask = EvalTransform()(sample, None)
    assert image.shape == (3, 20, 30) and image.dtype == torch.float32
    assert mask.shape == (20, 30) and mask.dtype == torch.int64
    np.testing.assert_allclose(denormalise(image), sample.image, atol=1e-3)
    np.testing.assert_array_equal(mask.numpy(), sample.mask)


def test_eval_crop_pads_with_mean_and_ignore_then_centres():
    sample = make_sample(10, 12)
    image, mask = EvalTransform(crop_size=(14, 8))(sample)
    assert image.shape == (3, 14, 8)
    np.testing.assert_array_equal(mask[:10].numpy(), sample.mask[:, 2:10])  # x0 = (12 - 8) // 2
    assert (mask[10:] == 255).all()
    assert image[:, 10:].abs().max() < 0.01  # the mean colour normalises to ~0
    np.testing.assert_allclose(denormalise(image[:, :10]), sample.image[:, 2:10], atol=1e-3)


def test_train_transform_output_and_padding():
    transform = TrainTransform(crop_size=32, scale=(0.5, 0.5), flip=False)
    image, mask = transform(make_sample(20, 30), np.random.default_rng(0))
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32)
    labelled = mask != 255
    assert labelled.sum() == 10 * 15  # the scaled image, the rest padded with ignore
    assert image[:, ~labelled].abs().max() < 0.01
    assert set(mask[labelled].unique().tolist()) <= {0, 1, 2, 3, 4}


def test_train_transform_nearest_mask_and_flip():
    sample = make_sample(16, 16)
    transform = TrainTransform(crop_size=16, scale=(1.0, 1.0), flip=True)
    seen = set()
    for seed in range(12):
        _, mask = transform(sample, np.random.default_rng(seed))
        row = mask[0].numpy()
        if np.array_equal(row, sample.mask[0]):
            seen.add("plain")
        elif np.array_equal(row, sample.mask[0, ::-1]):
            seen.add("flipped")
    assert seen == {"plain", "flipped"}
    for seed in range(12):  # nearest resizing never invents label values
        _, mask = TrainTransform(24, scale=(0.5, 2.0))(sample, np.random.default_rng(seed))
        assert set(mask.unique().tolist()) <= {0, 1, 2, 3, 4, 255}


def test_train_transform_is_a_function_of_the_generator():
    sample = make_sample()
    transform = TrainTransform(crop_size=24)
    a = transform(sample, np.random.default_rng(7))
    b = transform(sample, np.random.default_rng(7))
    c = transform(sample, np.random.default_rng(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_mismatched_sample_is_refused_with_its_id():
    bad = Sample("odd", np.zeros((4, 5, 3), np.uint8), np.zeros((5, 4), np.uint8))
    with pytest.raises(DatasetError, match="sample odd: image .* do not pair"):
        TrainTransform(4)(bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match="crop_size"):
        TrainTransform(0)


class Memory(SegmentationSource):
    """A source over in-memory samples."""

    def __init__(self, samples: list[Sample]) -> None:
        self.samples = samples
        self.ids = [s.id for s in samples]
        self.name, self.split, self.num_classes = "memory", "train", 5
        self.class_names = [str(k) for k in range(5)]
        self.palette = np.zeros((5, 3), np.uint8)
        self.index_problems = []

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]

    def describe(self) -> dict:
        return {"format": "memory", "count": len(self.ids)}


def test_dataset_items_depend_on_seed_epoch_and_index_only():
    source = Memory([make_sample(seed=k) for k in range(6)])
    dataset = SegmentationDataset(source, TrainTransform(16), seed=3)
    serial = [dataset[i] for i in range(6)]
    loader = DataLoader(dataset, batch_size=2, num_workers=2, persistent_workers=True)
    batched = torch.cat([images for images, _ in loader])
    assert torch.equal(batched, torch.stack([image for image, _ in serial]))
    dataset.set_epoch(1)
    assert dataset.epoch == 1
    epoch1 = torch.cat([images for images, _ in loader])  # the same persistent workers
    assert not torch.equal(epoch1, batched)
    assert torch.equal(epoch1[4], dataset[4][0])
    other_seed = SegmentationDataset(source, TrainTransform(16), seed=4)
    assert not torch.equal(other_seed[0][0], serial[0][0])
