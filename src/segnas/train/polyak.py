"""Polyak (exponential moving) averaging of trained weights, swapped in for validation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class PolyakAverage:
    """avg <- decay * avg + (1 - decay) * weights, after every optimiser step.

    Only parameters are averaged; batch-norm statistics are running averages already.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"polyak decay: got {decay}, expected a value in [0, 1)")
        self.decay = decay
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - self.decay)

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
