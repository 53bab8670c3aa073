"""`SegmentationDataset`: a source plus a transform as a torch Dataset, reproducible per epoch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from segnas.data.source import Sample, SegmentationSource

Transform = Callable[[Sample, np.random.Generator], tuple[torch.Tensor, torch.Tensor]]


class SegmentationDataset(Dataset):
    """Item i is ``transform(source[i], default_rng([seed, epoch, i]))``.

    The augmentation of a sample depends on (seed, epoch, i) only: not on worker count, batch
    order or which worker loads it. The epoch lives in shared memory, so `set_epoch` reaches
    DataLoader workers even when they persist between epochs.
    """

    def __init__(self, source: SegmentationSource, transform: Transform, seed: int = 0) -> None:
        if seed < 0:
            raise ValueError(f"seed: got {seed}, expected an integer >= 0")
        self.source = source
        self.transform = transform
        self.seed = seed
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch: got {epoch}, expected an integer >= 0")
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return self.transform(self.source[i], rng)


def training_loader(
    dataset: Dataset, batch_size: int, workers: int, generator: torch.Generator
) -> DataLoader:
    """Shuffled full batches (batch norm needs two samples; a ragged last batch is dropped),
    worker processes kept across epochs, and the order drawn from `generator` so that a seeded
    or resumed run repeats it."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=generator,
    )
