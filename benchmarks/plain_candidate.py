"""segnas's candidate evaluation written the straightforward way, as a plain port would run it.

The same two stages as `segnas.train.candidate.evaluate_candidate` (stage 1: the decoder on
cached encoder taps; stage 2: encoder and decoder end to end; validation after each), with the
same network, sizes, seeds, batch order, optimisers, learning rates, losses, gradient clip and
Polyak averaging, but none of segnas's speed work:

- every `ShapeAwareConv2d` swapped for an `nn.Conv2d` with the same weights (oneDNN's
  convolutions at every map size, padding-only taps included);
- the loss as `F.interpolate` + `F.cross_entropy` per head, not the fused upsampled
  cross-entropy;
- the encoder in NCHW in stage 2 (no channels-last switch);
- optimisers and gradient clipping with PyTorch's defaults (per-tensor loops on the CPU),
  Polyak averaging as a loop over parameters, validation under `torch.no_grad`;
- denormals not flushed, glibc's allocator and the thread count left as they are (the caller
  runs this in a fresh process to keep it so).

Only what is timed differs: the result is the same network trained on the same batches, so its
reward matches segnas's up to floating-point rounding.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from segnas.data.source import IGNORE_INDEX
from segnas.final.export import plain_convolutions
from segnas.genotype import Genotype
from segnas.space.builder import SegmentationNet, build_decoder
from segnas.space.decoder import main_logits, split_output
from segnas.train.candidate import candidate_seed
from segnas.train.polyak import warmup_decay
from segnas.train.search_data import SearchData
from segnas.train.settings import CandidateSettings
from segnas.train.stages import batches


@dataclass
class PlainResult:
    """Seconds per part (the keys of `CandidateResult.seconds`), last-epoch losses, rewards."""

    seconds: dict[str, float] = field(default_factory=dict)
    stage1_loss: float = 0.0
    stage1_reward: float = 0.0
    stage2_loss: float = 0.0
    reward: float = 0.0


class Polyak:
    """avg <- d * avg + (1 - d) * weights after each step, one parameter at a time."""

    def __init__(self, module: nn.Module, decay: float, warmup: bool) -> None:
        self.decay, self.warmup, self.steps = decay, warmup, 0
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        d = warmup_decay(self.decay, self.steps) if self.warmup else self.decay
        for a, p in zip(self.average, self.params):
            a.mul_(d).add_(p, alpha=1 - d)
        self.steps += 1

    @torch.no_grad()
    def swap(self) -> None:
        for p, a in zip(self.params, self.average):
            tmp = p.clone()
            p.copy_(a)
            a.copy_(tmp)


def loss_of(output: object, target: torch.Tensor, aux_weight: float) -> torch.Tensor:
    """Cross-entropy of each head's logits upsampled to the mask, aux heads weighted."""
    main, aux = split_output(output)
    size = target.shape[-2:]
    loss = torch.zeros(())
    for weight, logits in [(1.0, main)] + [(aux_weight, a) for a in aux]:
        up = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        loss = loss + weight * F.cross_entropy(up, target, ignore_index=IGNORE_INDEX)
    return loss


def train_epoch(
    model: nn.Module,
    inputs: Callable[[torch.Tensor], object],
    masks: torch.Tensor,
    optimizers: list[torch.optim.Optimizer],
    order: list[torch.Tensor],
    settings: CandidateSettings,
    polyak: Polyak,
) -> float:
    """One pass over `order`'s batches: forward, loss, backward, clip, step, average."""
    model.train()
    total = 0.0
    for idx in order:
        target = masks[idx].long()
        loss = loss_of(model(inputs(idx)), target, settings.aux_weight)
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        for optimizer in optimizers:
            optimizer.step()
        polyak.update()
        total += loss.item()
    return total / max(len(order), 1)


@torch.no_grad()
def validate(
    model: nn.Module,
    inputs: Callable[[torch.Tensor], object],
    data: SearchData,
    settings: CandidateSettings,
    polyak: Polyak,
) -> float:
    """Search reward on meta-val with the Polyak average swapped in."""
    k = data.num_classes
    cm = torch.zeros(k * k, dtype=torch.long)
    polyak.swap()
    model.eval()
    for idx in torch.arange(len(data.val_masks)).split(settings.val_batch_size):
        target = data.val_masks[idx].long()
        logits = main_logits(model(inputs(idx)))
        up = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        keep = target != IGNORE_INDEX
        cm += torch.bincount(target[keep] * k + up.argmax(1)[keep], minlength=k * k)
    polyak.swap()
    return data.task.reward(cm.reshape(k, k))


def _taps(taps: list[torch.Tensor]) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    return lambda idx: [t[idx] for t in taps]


def _images(images: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda idx: images[idx]


def plain_candidate(
    genotype: Genotype, settings: CandidateSettings, data: SearchData, seed: int
) -> PlainResult:
    """Both stages and their validations of `genotype`, timed per part, on the CPU."""
    if settings.distill and data.teacher_logits is not None:
        raise ValueError("plain_candidate: distillation is not implemented; pass distill=False")
    if not settings.polyak:
        raise ValueError("plain_candidate: validates Polyak averages only; pass polyak=True")
    s1, s2 = settings.stage1, settings.stage2
    own_seed = candidate_seed(genotype, seed, settings.common_random_numbers)
    torch.manual_seed(own_seed)
    generator = torch.Generator().manual_seed(own_seed)
    head = build_decoder(genotype, data.encoder, data.num_classes, settings.decoder)
    plain_convolutions(head)
    result = PlainResult()

    start = time.perf_counter()
    optimizer = torch.optim.Adam(head.parameters(), lr=s1.lr, weight_decay=settings.weight_decay)
    polyak = Polyak(head, s1.polyak_decay, settings.polyak_warmup)
    for _ in range(s1.epochs):
        order = batches(len(data.train_masks), s1.batch_size, generator)
        inputs = _taps(data.train_taps)
        loss = train_epoch(head, inputs, data.train_masks, [optimizer], order, settings, polyak)
    result.seconds["stage1"] = time.perf_counter() - start
    result.stage1_loss = loss

    start = time.perf_counter()
    result.stage1_reward = validate(head, _taps(data.val_taps), data, settings, polyak)
    result.seconds["val1"] = time.perf_counter() - start

    start = time.perf_counter()
    with torch.no_grad():
        for p, a in zip(polyak.params, polyak.average):
            p.copy_(a)
    net = SegmentationNet(copy.deepcopy(data.encoder).requires_grad_(True), head)
    optimizers = [
        torch.optim.SGD(
            net.encoder.parameters(),
            lr=s2.encoder_lr,
            momentum=s2.encoder_momentum,
            weight_decay=settings.weight_decay,
        ),
        torch.optim.Adam(head.parameters(), lr=s2.decoder_lr, weight_decay=settings.weight_decay),
    ]
    polyak = Polyak(net, s2.polyak_decay, settings.polyak_warmup)
    for _ in range(s2.epochs):
        order = batches(len(data.stage2_masks), s2.batch_size, generator)
        inputs = _images(data.stage2_images)
        loss = train_epoch(net, inputs, data.stage2_masks, optimizers, order, settings, polyak)
    result.seconds["stage2"] = time.perf_counter() - start
    result.stage2_loss = loss

    start = time.perf_counter()
    result.reward = validate(net, _images(data.val_images), data, settings, polyak)
    result.seconds["val2"] = time.perf_counter() - start
    return result
