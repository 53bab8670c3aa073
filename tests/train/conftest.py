"""A small prepared search dataset shared by the evaluation tests (built once per session)."""

from __future__ import annotations

import pytest

from segnas.data import open_dataset
from segnas.encoders import build_encoder
from segnas.train.search_data import SearchDataInputs, prepare_search_data, search_split
from tests.fixtures.candidate_settings import SMALL


@pytest.fixture(scope="session")
def small_source(tmp_path_factory):
    return open_dataset(
        "builtin:size=64,train=120,val=20", cache_dir=tmp_path_factory.mktemp("builtin")
    )


@pytest.fixture(scope="session")
def small_data(small_source, tmp_path_factory):
    encoder = build_encoder("mobilenet_v2", "imagenet")
    return prepare_search_data(
        small_inputs(small_source, encoder), cache_root=tmp_path_factory.mktemp("cache")
    )


def small_inputs(source, encoder, seed: int = 0) -> SearchDataInputs:
    """Inputs of the small search data: a quarter of the images held out as meta-val."""
    train_ids, val_ids = search_split(source.ids, 0.25, seed)
    return SearchDataInputs(
        source,
        train_ids,
        val_ids,
        encoder,
        "mobilenet_v2:imagenet",
        crop_size=SMALL.crop_size,
        batch_size=SMALL.val_batch_size,
        seed=seed,
    )


@pytest.fixture(scope="session")
def make_inputs():
    """`small_inputs` for tests that prepare their own search data."""
    return small_inputs
