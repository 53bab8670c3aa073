"""``builtin`` with ``task="depth"``: the same cached scenes, seen through `DepthView`."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from segnas.data import DatasetError, DepthView, open_dataset, subset

SPEC = "builtin:size=64,train=4,val=2"


def test_depth_view_of_builtin(tmp_path: Path):
    view = open_dataset(SPEC, task="depth", cache_dir=tmp_path)
    plain = open_dataset(SPEC, cache_dir=tmp_path)
    assert isinstance(view, DepthView) and view.task == "depth" and plain.task == "segmentation"
    assert view.num_classes == 1 and view.class_names == ["depth"]
    assert view.palette.tolist() == [[255, 255, 255]] and view.background_index is None
    assert view.ids == plain.ids and len(view) == 4
    assert view.describe() == {**plain.describe(), "task": "depth"}
    assert view.describe() != plain.describe()
    depth = view[2].depth
    assert depth.dtype == np.float32 and depth.shape == (64, 64)
    np.testing.assert_array_equal(depth, np.asarray(plain._arrays["depth"][2], np.float32))
    np.testing.assert_array_equal(view[2].mask, plain[2].mask)  # the mask may stay
    assert view.files(0) == plain.files(0)
    val = open_dataset(SPEC, split="val", task="depth", cache_dir=tmp_path)
    assert val.split == "val" and len(val) == 2 and val.describe()["split"] == "val"


def test_depth_view_pickles_and_subsets_keep_the_task(tmp_path: Path):
    view = open_dataset(SPEC, task="depth", cache_dir=tmp_path)
    restored = pickle.loads(pickle.dumps(view))
    np.testing.assert_array_equal(restored[1].depth, view[1].depth)
    assert restored.describe() == view.describe()
    part = subset(view, view.ids[:2])
    assert part.task == "depth" and part.num_classes == 1


def test_task_names_and_formats_without_depth(tmp_path: Path):
    with pytest.raises(DatasetError, match="task 'normals' unknown, expected one of segmentation"):
        open_dataset(SPEC, task="normals", cache_dir=tmp_path)
    with pytest.raises(DatasetError, match="voc has no depth; depth datasets are builtin, folder"):
        open_dataset(f"voc:{tmp_path}", task="depth")
    with pytest.raises(DatasetError, match="--classes 5 given for a depth dataset"):
        open_dataset(SPEC, task="depth", num_classes=5, cache_dir=tmp_path)
