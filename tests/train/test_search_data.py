"""The feature cache: reused when nothing changed, rebuilt when any key part changes."""

from __future__ import annotations

import torch

from segnas.data import open_dataset
from segnas.encoders import build_encoder
from segnas.train.array_cache import cache_key
from segnas.train.search_data import prepare_search_data


def prepare(make_inputs, source, cache_root, seed=0):
    encoder = build_encoder("mobilenet_v2", "imagenet")
    return prepare_search_data(make_inputs(source, encoder, seed), cache_root=cache_root)


def test_cache_is_reused_and_rebuilt_on_any_change(make_inputs, small_source, tmp_path) -> None:
    first = prepare(make_inputs, small_source, tmp_path)
    assert not any(first.cache_hits.values())
    again = prepare(make_inputs, small_source, tmp_path)
    assert all(again.cache_hits.values())
    for a, b in zip(first.train_taps, again.train_taps):
        assert torch.equal(a, b)
    reseeded = prepare(make_inputs, small_source, tmp_path, seed=1)
    assert not any(reseeded.cache_hits.values())
    other = open_dataset("builtin:size=64,train=120,val=20,seed=5", cache_dir=tmp_path / "builtin5")
    assert not any(prepare(make_inputs, other, tmp_path).cache_hits.values())


def test_taps_match_the_encoder_on_the_cached_views(small_data) -> None:
    data = small_data
    with torch.inference_mode():
        taps = data.encoder(data.val_images[:4])
    for cached, fresh in zip(data.val_taps, taps):
        assert cached.shape[1:] == fresh.shape[1:]
        assert torch.allclose(cached[:4], fresh, atol=2e-2, rtol=1e-2)  # fp16 storage
    assert data.train_masks.dtype == torch.uint8
    assert len(data.train_masks) == 90 and len(data.val_masks) == 30


def test_cache_key_depends_on_every_part() -> None:
    parts = {"a": 1, "b": [1, 2], "c": {"d": "x"}}
    assert cache_key(parts) == cache_key({"c": {"d": "x"}, "b": [1, 2], "a": 1})
    assert cache_key(parts) != cache_key({**parts, "a": 2})
    assert cache_key(parts) != cache_key({**parts, "c": {"d": "y"}})
