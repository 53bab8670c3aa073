"""The two training stages and validation, written as tight loops over tensors already in place.

Stage 1 trains the decoder alone on cached encoder taps; stage 2 trains encoder and decoder end
to end. Each step is one forward, one backward, a clipped optimiser step and a Polyak update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext

import torch
from torch import nn

from segnas.space.decoder import main_logits, split_output
from segnas.tasks.base import Task
from segnas.train.losses import total_loss
from segnas.train.polyak import PolyakAverage


class NonFiniteLossError(RuntimeError):
    """Training diverged; the candidate is recorded as failed with this message."""


def batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled index batches; a last batch of one is dropped (batch norm needs two samples)."""
    order = torch.randperm(count, generator=generator)
    return [idx for idx in order.split(batch_size) if len(idx) > 1]


def train_steps(
    model: nn.Module,
    inputs: Callable[[torch.Tensor], object],
    targets: torch.Tensor,
    optimizers: Sequence[torch.optim.Optimizer],
    index_batches: Sequence[torch.Tensor],
    *,
    task: Task,
    aux_weight: float,
    grad_clip: float,
    polyak: PolyakAverage | None,
    teacher: torch.Tensor | None = None,
    distill_weight: float = 0.0,
    stage: str = "",
) -> float:
    """Run the given batches; returns the mean loss. `inputs(idx)` gives the model's input."""
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    total = torch.zeros((), device=device)
    model.train()
    for step, idx in enumerate(index_batches):
        target = targets[idx].to(device, task.target_dtype, non_blocking=True)
        out, aux = split_output(model(inputs(idx)))
        soft = None if teacher is None else teacher[idx].to(device, non_blocking=True)
        loss = total_loss(
            out,
            aux,
            target,
            aux_weight=aux_weight,
            teacher=soft,
            distill_weight=distill_weight,
            task_loss=task.loss,
        )
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"{stage}: loss is {loss.item()} at step {step}")
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, grad_clip, foreach=True)
        for optimizer in optimizers:
            optimizer.step()
        if polyak is not None:
            polyak.update()
        total += loss.detach()
    return float(total) / max(len(index_batches), 1)


@torch.inference_mode()
def statistics_on(
    model: nn.Module,
    inputs: Callable[[torch.Tensor], object],
    targets: torch.Tensor,
    task: Task,
    batch_size: int,
    polyak: PolyakAverage | None = None,
) -> torch.Tensor:
    """The task's summed statistics (a confusion matrix, depth sums) of `model` on the given
    views, Polyak weights swapped in when given."""
    device = next(model.parameters()).device
    model.eval()
    stats = task.empty_statistics(device)
    with polyak.swapped_in() if polyak is not None else nullcontext():
        for idx in torch.arange(len(targets)).split(batch_size):
            target = targets[idx].to(device, task.target_dtype, non_blocking=True)
            stats += task.statistics(main_logits(model(inputs(idx))), target)
    return stats.cpu()


def feature_inputs(taps: Sequence[torch.Tensor], device: torch.device) -> Callable:
    """Index cached taps into a decoder input on `device`."""
    return lambda idx: [t[idx].to(device, torch.float32, non_blocking=True) for t in taps]


def image_inputs(images: torch.Tensor, device: torch.device) -> Callable:
    """Index cached images into a network input on `device`."""
    return lambda idx: images[idx].to(device, torch.float32, non_blocking=True)


class ChannelsLastEncoder(nn.Module):
    """Runs an encoder in channels-last memory order and hands its taps on in NCHW.

    On the CPU, MobileNet-v2's depthwise convolutions run 2-3x faster channels-last (stage 2:
    7-12% less time per candidate measured here), while the decoder's small-map convolutions
    are faster in NCHW; hence the switch at the taps.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.inner = encoder.to(memory_format=torch.channels_last)
        self.taps = encoder.taps

    def forward(self, x: torch.Tensor, num_taps: int | None = None) -> list[torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)
        return [tap.contiguous() for tap in self.inner(x, num_taps)]


def decoder_optimizer(decoder: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam over `decoder`: a `Decoder`, or whatever a baseline has outside its encoder."""
    return torch.optim.Adam(decoder.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)


def encoder_optimizer(
    net: nn.Module, lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    """SGD over `net.encoder` (a `SegmentationNet`'s or a baseline's)."""
    return torch.optim.SGD(
        net.encoder.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=True
    )
