"""Shared fixtures: a tiny stand-in encoder so decoder property tests run in milliseconds."""

from __future__ import annotations

import pytest
import torch
from hypothesis import settings
from torch import nn

from segnas.encoders import Encoder, TapInfo

settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")


class TinyEncoder(Encoder):
    """Four strided convs with MobileNet-v2's tap strides and small channel counts."""

    def __init__(self, channels: tuple[int, ...] = (6, 8, 10, 12)) -> None:
        super().__init__()
        self.taps = TapInfo(channels=channels, strides=(4, 8, 16, 32))
        cins = (3, *channels[:-1])
        strides = (4, 2, 2, 2)
        self.convs = nn.ModuleList(
            nn.Conv2d(cin, cout, s, stride=s) for cin, cout, s in zip(cins, channels, strides)
        )

    def stage(self, index: int) -> list[nn.Module]:
        return [self.convs[index]]


@pytest.fixture
def tiny_encoder() -> TinyEncoder:
    torch.manual_seed(0)
    return TinyEncoder()


@pytest.fixture(autouse=True)
def _restore_denormals():
    """Training code flushes denormals for speed; undo it so other tests see IEEE floats."""
    yield
    torch.set_flush_denormal(False)
