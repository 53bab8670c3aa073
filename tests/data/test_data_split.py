"""Meta-train / meta-val splits and id subsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segnas.data import DatasetError, load_split, meta_split, open_dataset, save_split, subset

IDS = [f"img{k:03d}" for k in range(200)]


def test_meta_split_is_90_10_disjoint_and_complete():
    train, val = meta_split(IDS)
    assert len(train) == 180 and len(val) == 20
    assert set(train) | set(val) == set(IDS) and not set(train) & set(val)
    assert train == [i for i in IDS if i in set(train)]  # input order kept


def test_meta_split_depends_on_seed_not_on_listing_order():
    assert meta_split(IDS, seed=5) == meta_split(IDS, seed=5)
    assert meta_split(IDS, seed=5)[1] != meta_split(IDS, seed=6)[1]
    shuffled = IDS[::-1]
    assert set(meta_split(shuffled, seed=5)[1]) == set(meta_split(IDS, seed=5)[1])
    assert meta_split(IDS, 0.25)[1].__len__() == 50
    assert [len(part) for part in meta_split(["a", "b"], 0.01)] == [1, 1]


def test_meta_split_refuses_bad_input():
    with pytest.raises(ValueError, match="val_fraction"):
        meta_split(IDS, 1.0)
    with pytest.raises(DatasetError, match="at least 2"):
        meta_split(["only"])
    with pytest.raises(DatasetError, match="ids repeat"):
        meta_split(["a", "a", "b"])


def test_save_and_load_round_trip(tmp_path: Path):
    train, val = meta_split(IDS, seed=1)
    path = tmp_path / "run" / "split.json"
    save_split(path, train, val)
    assert load_split(path) == (train, val)
    assert json.loads(path.read_text())["format"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read split"),
        ('{"train": [], "val": []}', "expected a JSON object with format 1"),
        ('{"format": 1, "train": ["a"], "val": "b"}', "field 'val' must be a list of id strings"),
        ('{"format": 1, "train": ["a", "b"], "val": ["b"]}', "1 ids in both train and val"),
    ],
)
def test_load_split_errors_name_the_file_and_field(tmp_path: Path, content: str, message: str):
    path = tmp_path / "split.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_split(path)
    assert str(path) in str(info.value)


def test_subset_keeps_classes_and_reads_through(folder_tree: Path):
    source = open_dataset(f"folder:{folder_tree}")
    part = subset(source, ["c", "a"])
    assert part.ids == ["c", "a"] and len(part) == 2
    assert part.class_names == source.class_names and part.num_classes == 4
    assert part[0].id == "c" and part.files(1) == source.files(0)
    assert part.describe()["count"] == 2 and "subset" in part.describe()
    with pytest.raises(DatasetError, match=r"1 ids not in the dataset \(first: 'zzz'\)"):
        subset(source, ["a", "zzz"])
