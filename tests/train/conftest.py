"""A small prepared search dataset shared by the evaluation tests (built once per session)."""

from __future__ import annotations

import pytest

from segnas.data import open_dataset
from segnas.encoders import build_encoder
from segnas.train.search_data import prepare_search_data
from segnas.train.settings import CandidateSettings, Stage1Settings, Stage2Settings

SMALL = CandidateSettings(
    crop_size=64,
    stage1=Stage1Settings(epochs=2, batch_size=32),
    stage2=Stage2Settings(epochs=1, batch_size=16),
)


@pytest.fixture(scope="session")
def small_source(tmp_path_factory):
    return open_dataset(
        "builtin:size=64,train=120,val=20", cache_dir=tmp_path_factory.mktemp("builtin")
    )


@pytest.fixture(scope="session")
def small_data(small_source, tmp_path_factory):
    encoder = build_encoder("mobilenet_v2", "imagenet")
    return prepare_search_data(
        small_source,
        SMALL,
        encoder,
        "mobilenet_v2:imagenet",
        val_fraction=0.25,
        cache_root=tmp_path_factory.mktemp("cache"),
    )
