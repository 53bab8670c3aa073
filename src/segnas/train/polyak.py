"""Polyak (exponential moving) averaging of trained weights, swapped in for validation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def warmup_decay(decay: float, step: int) -> float:
    """Decay at update `step` (0-based) with warm-up: min(decay, (1 + t) / (10 + t)).

    timm's ModelEma convention. With a fixed 0.99, a 10-step stage would validate weights that
    are still ~90% its starting point; the warm-up lets early updates count almost fully, and
    the average settles on `decay` once the stage is long enough (t ~ 890 for 0.99).
    """
    return min(decay, (1.0 + step) / (10.0 + step))


class PolyakAverage:
    """avg <- d_t * avg + (1 - d_t) * weights, after every optimiser step.

    d_t is `decay`, or `warmup_decay(decay, t)` with `warmup`. Only trainable parameters are
    averaged. Batch-norm running statistics are not: they are already running averages, of
    activations under the trained weights, and the averaged weights are validated with the
    statistics the trained module collected (the authors' code does the same).
    """

    def __init__(self, module: nn.Module, decay: float, warmup: bool = False) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"polyak decay: got {decay}, expected a value in [0, 1)")
        self.decay = decay
        self.warmup = warmup
        self.steps = 0
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]

    def current_decay(self) -> float:
        """The decay the next `update()` applies."""
        return warmup_decay(self.decay, self.steps) if self.warmup else self.decay

    @torch.no_grad()
    def update(self) -> None:
        weight = 1.0 - self.current_decay()
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], weight)
        self.steps += 1

    @torch.no_grad()
    def _swap(self) -> None:
        for p, a in zip(self.params, self.average):
            tmp = p.detach().clone()
            p.copy_(a)
            a.copy_(tmp)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Average weights in the module inside the block, the trained ones again after."""
        self._swap()
        try:
            yield
        finally:
            self._swap()

    @torch.no_grad()
    def copy_to_module(self) -> None:
        """Keep the average for good (what the validated reward measured)."""
        torch._foreach_copy_(self.params, self.average)
