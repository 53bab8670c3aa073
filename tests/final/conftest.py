"""Fixtures for the final-model tools: tiny built-in data and small model files on disk.

The model files hold a real `SegmentationNet` (MobileNet-v2, random weights, C=8, R=1) written
with `save_model`, so everything that reads model files is exercised end to end. A freshly
initialised network predicts one class everywhere (its activations vanish through the
untrained batch norms); `model_factory` measures the batch-norm statistics on the tiny training
split instead, so predictions vary over the image as a trained model's do.

`tests.fixtures.models.RedClassifier` is the opposite: a parameter-free model whose every
prediction a test controls.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from segnas.data import (
    EvalTransform,
    SegmentationSource,
    open_dataset,
)
from segnas.genotype import resolve
from segnas.space.builder import DecoderSettings, SegmentationNet, build_network
from segnas.space.model_file import ModelMeta, save_model

TINY_DATA = "builtin:size=32,train=16,val=8"
"""The dataset spec the CLI tests pass with `--data` (9 classes, 32x32 images)."""

TINY_DECODER = DecoderSettings(channels=8, repeats=1, aux_mode="cell")

ModelFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def builtin_cache(tmp_path_factory) -> Path:
    """A session-wide cache root, so the tiny built-in dataset is generated once."""
    return tmp_path_factory.mktemp("segnas-cache")


@pytest.fixture
def segnas_cache(builtin_cache: Path, monkeypatch) -> Path:
    """Points `$SEGNAS_CACHE` at the session cache, for commands run through `segnas.cli.main`."""
    monkeypatch.setenv("SEGNAS_CACHE", str(builtin_cache))
    return builtin_cache


def _open(cache: Path, split: str) -> SegmentationSource:
    return open_dataset(TINY_DATA, split=split, cache_dir=cache / "builtin")


@pytest.fixture(scope="session")
def tiny_train(builtin_cache: Path) -> SegmentationSource:
    return _open(builtin_cache, "train")


@pytest.fixture(scope="session")
def tiny_val(builtin_cache: Path) -> SegmentationSource:
    return _open(builtin_cache, "val")


@torch.no_grad()
def calibrate_batch_norms(net: SegmentationNet, source: SegmentationSource) -> None:
    """Set every batch norm's running statistics to those of `source` (one full batch)."""
    images = torch.stack([EvalTransform()(sample)[0] for sample in source])  # (N, 3, H, W)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: one pass gives the exact statistics
    net.train()(images)
    net.eval()


@pytest.fixture(scope="session")
def model_factory(tmp_path_factory, tiny_train: SegmentationSource) -> ModelFactory:
    """`make(name, genotype="arch0", num_classes=9, calibrate=True, seed=0, **meta)` writes a
    model file under a session folder and returns its path; `meta` extends `ModelMeta`."""
    folder = tmp_path_factory.mktemp("models")

    def make(
        name: str,
        genotype: str = "arch0",
        num_classes: int | None = None,
        calibrate: bool = True,
        seed: int = 0,
        **meta,
    ) -> Path:
        num_classes = num_classes or tiny_train.num_classes
        torch.manual_seed(seed)
        net = build_network(resolve(genotype), num_classes, TINY_DECODER, weights=None)
        if calibrate:
            calibrate_batch_norms(net, tiny_train)
        if num_classes == tiny_train.num_classes:
            meta.setdefault("class_names", list(tiny_train.class_names))
        path = folder / name
        save_model(
            path,
            net,
            ModelMeta(
                str(resolve(genotype)),
                num_classes,
                TINY_DECODER.channels,
                TINY_DECODER.repeats,
                TINY_DECODER.aux_mode,
                **meta,
            ),
        )
        return path

    return make


@pytest.fixture(scope="session")
def model_file(model_factory: ModelFactory) -> Path:
    """arch0 for the 9 built-in classes, batch norms calibrated on `tiny_train`."""
    return model_factory("arch0.pt")
