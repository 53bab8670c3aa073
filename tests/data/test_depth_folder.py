"""``folder:PATH`` with ``task="depth"``: images/ + depth/ by stem, millimetre PNGs and metre .npy
files, and the files that must be refused (each one named)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from segnas.data import DatasetError, ProblemKind, SampleError, open_dataset
from segnas.data.depth import read_depth
from tests.fixtures.datafiles import rgb, write_grey_png, write_rgb
from tests.fixtures.depthfiles import depth_folder, millimetres, write_depth_png, write_npy


def test_millimetre_pngs_read_as_metres_with_holes_kept(tmp_path: Path):
    root = depth_folder(tmp_path / "d")
    source = open_dataset(f"folder:{root}", task="depth")
    assert source.task == "depth" and source.ids == ["a", "b", "c"]
    assert source.num_classes == 1 and source.class_names == ["depth"]
    assert source.palette.tolist() == [[255, 255, 255]] and source.background_index is None
    assert source.index_problems == []
    sample = source[1]
    assert sample.mask is None and sample.image.shape == (12, 16, 3)
    assert sample.depth.dtype == np.float32 and sample.depth.shape == (12, 16)
    np.testing.assert_allclose(sample.depth, millimetres(1) / 1000, rtol=1e-6)
    assert (sample.depth[0, :2] == 0).all() and (sample.depth[1:] > 0).all()
    assert source.files(1) == (str(root / "images" / "b.png"), str(root / "depth" / "b.png"))


def test_npy_metres_keep_nan_as_missing(tmp_path: Path):
    root = tmp_path / "d"
    metres = np.random.default_rng(0).uniform(0.3, 5, (12, 16)).astype(np.float32)
    metres[2, 3] = np.nan
    metres[4, 5] = 0
    write_rgb(root / "images" / "x.jpg", rgb(0))
    write_npy(root / "depth" / "x.npy", metres)
    depth = open_dataset(f"folder:{root}", task="depth")[0].depth
    assert np.isnan(depth[2, 3]) and depth[4, 5] == 0
    np.testing.assert_array_equal(depth, metres)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_npy_of_other_float_widths_becomes_float32(tmp_path: Path, dtype):
    values = np.full((3, 4), 1.5, dtype)
    depth = read_depth(write_npy(tmp_path / "x.npy", values))
    assert depth.dtype == np.float32 and (depth == 1.5).all()


def test_split_folders_and_describe_differs_from_segmentation(tmp_path: Path):
    depth_folder(tmp_path / "d" / "train", stems=("a", "b"))
    depth_folder(tmp_path / "d" / "val", stems=("c",))
    train = open_dataset(f"folder:{tmp_path / 'd'}", task="depth")
    val = open_dataset(f"folder:{tmp_path / 'd'}", split="val", task="depth")
    assert train.ids == ["a", "b"] and val.ids == ["c"]
    assert val.describe()["task"] == "depth" and val.describe()["split"] == "val"
    with pytest.raises(DatasetError, match="expected .*test/images"):
        open_dataset(f"folder:{tmp_path / 'd'}", split="test", task="depth")
    restored = pickle.loads(pickle.dumps(train))
    np.testing.assert_array_equal(restored[0].depth, train[0].depth)


def test_unpaired_and_duplicate_files_are_reported(tmp_path: Path):
    root = depth_folder(tmp_path / "d", stems=("a", "b"))
    write_rgb(root / "images" / "lonely.png", rgb(5))
    write_npy(root / "depth" / "orphan.npy", np.ones((12, 16), np.float32))
    write_npy(root / "depth" / "b.npy", np.ones((12, 16), np.float32))
    source = open_dataset(f"folder:{root}", task="depth")
    assert source.ids == ["a"]
    found = sorted((p.kind, Path(p.path).name, p.message) for p in source.index_problems)
    assert found == [
        ("duplicate_stem", "b.npy", "sample id 'b' appears 2 times; keep one"),
        ("duplicate_stem", "b.png", "sample id 'b' appears 2 times; keep one"),
        ("missing_partner", "lonely.png", f"no depth {root / 'depth' / 'lonely'}.*"),
        ("missing_partner", "orphan.npy", f"no image {root / 'images' / 'orphan'}.*"),
    ]


def test_classes_other_than_one_are_refused(tmp_path: Path):
    root = depth_folder(tmp_path / "d")
    assert open_dataset(f"folder:{root}", task="depth", num_classes=1).num_classes == 1
    with pytest.raises(DatasetError, match="--classes 3 given for a depth dataset"):
        open_dataset(f"folder:{root}", task="depth", num_classes=3)


def bad_depth(tmp_path: Path, name: str, write) -> tuple[Path, Path]:
    root = tmp_path / "d"
    write_rgb(root / "images" / f"{Path(name).stem}.png", rgb(0))
    path = root / "depth" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    return root, path


def inf_metres(path: Path) -> None:
    values = np.ones((12, 16), np.float32)
    values[3, 3] = np.inf
    np.save(path, values)


def negative_metres(path: Path) -> None:
    values = np.ones((12, 16), np.float32)
    values[1, 1] = -0.5
    np.save(path, values)


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("x.png", lambda p: write_grey_png(p, np.ones((12, 16), np.uint8)), "mode is L"),
        ("x.png", lambda p: write_rgb(p, rgb(1)), "mode is RGB"),
        ("x.npy", lambda p: np.save(p, np.ones((12, 16), np.uint16)), "is uint16, expected float"),
        ("x.npy", lambda p: np.save(p, np.ones((12, 16, 3), np.float32)), r"expected \(H, W\)"),
        ("x.npy", inf_metres, "1 infinite value"),
        ("x.npy", negative_metres, r"1 negative value\(s\) \(lowest -0.5\)"),
    ],
    ids=["8-bit-png", "rgb-png", "integer-npy", "3-channel-npy", "inf", "negative"],
)
def test_bad_depth_files_are_refused_naming_the_file(tmp_path: Path, name, write, message):
    root, path = bad_depth(tmp_path, name, write)
    source = open_dataset(f"folder:{root}", task="depth")
    with pytest.raises(SampleError, match=message) as caught:
        source[0]
    assert caught.value.path == str(path) and str(caught.value).startswith(f"{path}: ")
    assert caught.value.kind == ProblemKind.BAD_DEPTH


def test_damaged_files_are_unreadable(tmp_path: Path):
    root, path = bad_depth(tmp_path, "x.npy", lambda p: p.write_bytes(b"not numpy"))
    with pytest.raises(SampleError) as caught:
        open_dataset(f"folder:{root}", task="depth")[0]
    assert caught.value.kind == ProblemKind.UNREADABLE and caught.value.path == str(path)


def test_sixteen_bit_png_round_trip_keeps_full_range(tmp_path: Path):
    values = np.array([[0, 1, 65535]], np.uint16)
    depth = read_depth(write_depth_png(tmp_path / "x.png", values))
    np.testing.assert_allclose(depth, [[0, 0.001, 65.535]], rtol=1e-6)
