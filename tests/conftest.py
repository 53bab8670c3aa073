"""Shared fixtures: a tiny stand-in encoder so decoder property tests run in milliseconds.

Helpers that tests import (classes, writers, fake runs) live in `tests/fixtures/`.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import settings

from tests.fixtures.encoders import TinyEncoder

settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile("ci")


@pytest.fixture
def tiny_encoder() -> TinyEncoder:
    torch.manual_seed(0)
    return TinyEncoder()


@pytest.fixture(autouse=True)
def _restore_denormals():
    """Training code flushes denormals for speed; undo it so other tests see IEEE floats."""
    yield
    torch.set_flush_denormal(False)
