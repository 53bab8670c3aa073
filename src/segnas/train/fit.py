"""End-to-end training of a whole network on a dataset (teachers now, final models next).

Encoder with SGD, decoder with Adam (as in stage 2), optional poly schedule, auxiliary losses;
augmented batches come from DataLoader workers so the model never waits on the transforms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from segnas.data.dataset import SegmentationDataset, training_loader
from segnas.data.source import SegmentationSource
from segnas.devices import tune_cpu
from segnas.settings_io import require
from segnas.space.builder import SegmentationNet
from segnas.space.decoder import main_logits
from segnas.tasks.base import Task
from segnas.train.settings import check_batch
from segnas.train.stages import decoder_optimizer, encoder_optimizer, train_steps


@dataclass(frozen=True)
class FitSettings:
    """Full training of one network."""

    epochs: int = 8
    """Passes over the training set."""
    batch_size: int = 32
    """Images per step."""
    crop_size: int = 64
    """Side of the square training crops."""
    encoder_lr: float = 1e-3
    """SGD learning rate of the encoder (momentum 0.9)."""
    decoder_lr: float = 3e-3
    """Adam learning rate of the decoder."""
    weight_decay: float = 1e-5
    """L2 penalty."""
    grad_clip: float = 3.0
    """Gradient-norm clip."""
    aux_weight: float = 0.15
    """Weight of each auxiliary loss (when the network has auxiliary heads)."""
    poly_power: float = 0.9
    """Learning rates decay as (1 - step / steps) ** power; 0 keeps them constant."""
    workers: int = 0
    """DataLoader worker processes preparing augmented batches (raise on GPUs; on a small CPU
    machine they compete with the training threads)."""
    seed: int = 0
    """Seed of weight init, augmentation and batch order."""

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", self.epochs, ">= 1")
        check_batch("batch_size", self.batch_size)
        require(self.crop_size >= 32, "crop_size", self.crop_size, ">= 32 (stride-32 taps)")
        for name in ("encoder_lr", "decoder_lr", "grad_clip"):
            require(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        for name in ("weight_decay", "aux_weight", "poly_power", "workers", "seed"):
            require(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")


def fit(
    net: SegmentationNet,
    source: SegmentationSource,
    task: Task,
    settings: FitSettings,
    device: torch.device,
    on_epoch: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train `net` for `task` in place; returns the mean loss of every epoch."""
    tune_cpu()
    torch.manual_seed(settings.seed)
    net.to(device)
    transform = task.train_transform(settings.crop_size)
    dataset = SegmentationDataset(source, transform, settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    loader = training_loader(dataset, settings.batch_size, settings.workers, generator)
    optimizers = [
        encoder_optimizer(net, settings.encoder_lr, 0.9, settings.weight_decay),
        decoder_optimizer(net.decoder, settings.decoder_lr, settings.weight_decay),
    ]
    steps = settings.epochs * len(loader)
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: max(0.0, 1 - step / steps) ** settings.poly_power
        )
        for opt in optimizers
    ]
    losses = []
    for epoch in range(settings.epochs):
        dataset.set_epoch(epoch)
        total, count = 0.0, 0
        for images, masks in loader:
            whole = torch.arange(len(masks))
            total += train_steps(
                net,
                lambda idx, images=images: images[idx].to(device, non_blocking=True),
                masks,
                optimizers,
                [whole],
                task=task,
                aux_weight=settings.aux_weight,
                grad_clip=settings.grad_clip,
                polyak=None,
                stage=f"epoch {epoch}",
            )
            count += 1
            for scheduler in schedulers:
                scheduler.step()
        losses.append(total / max(count, 1))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return losses


@torch.inference_mode()
def statistics_on_source(
    net: torch.nn.Module,
    source: SegmentationSource,
    task: Task,
    device: torch.device,
    crop_size: int | None = None,
    batch_size: int = 16,
    workers: int = 0,
) -> torch.Tensor:
    """The task's statistics (`Task.statistics`) over a whole split; without `crop_size`
    images go one at a time."""
    net.eval().to(device)
    dataset = SegmentationDataset(source, task.eval_transform(crop_size), 0)
    loader = DataLoader(dataset, batch_size=batch_size if crop_size else 1, num_workers=workers)
    stats = task.empty_statistics()
    for images, targets in loader:
        logits = main_logits(net(images.to(device)))
        stats += task.statistics(logits, targets.to(device, task.target_dtype)).cpu()
    return stats
