"""``nyu:FILE.mat[,SPLITS]``: NYU Depth v2's v7.3 (HDF5) layout read back in image orientation,
the official and list-file splits, and clear errors for files that are not the dataset."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from segnas.data import DatasetError, DatasetSpec, open_dataset, parse_spec
from segnas.data.nyu_splits import format_split_list, parse_split_list
from tests.fixtures.depthfiles import nyu_arrays, write_nyu_mat, write_splits_mat


@pytest.fixture
def nyu(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """5 images of 6x8 (HxW); official split train = 1, 3, 4 and test = 2, 5."""
    images, depths = nyu_arrays()
    images[2, 1, 6] = (250, 10, 20)  # image 3, row 1, column 6: tells rows from columns
    depths[2, 1, 6] = 7.25
    depths[2, 0, 0] = 0  # a hole
    depths[3, 5, 7] = np.nan  # a hole as NaN
    mat = write_nyu_mat(tmp_path / "nyu" / "nyu_depth_v2_labeled.mat", images, depths)
    write_splits_mat(tmp_path / "nyu" / "splits.mat", [1, 3, 4], [2, 5])
    return mat, images, depths


def test_reads_images_and_depth_in_image_orientation(nyu):
    mat, images, depths = nyu
    with h5py.File(mat) as file:
        assert file["images"].shape == (5, 3, 8, 6) and file["depths"].shape == (5, 8, 6)
    source = open_dataset(f"nyu:{mat}", task="depth")
    assert source.task == "depth" and source.name == "nyu" and source.num_classes == 1
    assert source.class_names == ["depth"] and source.background_index is None
    assert source.ids == ["0001", "0003", "0004"]
    sample = source[1]  # image 3
    assert sample.mask is None and sample.id == "0003"
    assert sample.image.shape == (6, 8, 3) and sample.image.dtype == np.uint8
    assert sample.depth.shape == (6, 8) and sample.depth.dtype == np.float32
    assert sample.image[1, 6].tolist() == [250, 10, 20] and sample.depth[1, 6] == 7.25
    np.testing.assert_array_equal(sample.image, images[2])
    np.testing.assert_array_equal(sample.depth, depths[2])
    assert sample.depth[0, 0] == 0 and np.isnan(source[2].depth[5, 7])
    assert source.files(1) == (f"{mat}#3",)


def test_official_split_counts_and_test_alias(nyu):
    mat, images, depths = nyu
    val = open_dataset(f"nyu:{mat}", split="val", task="depth")
    test = open_dataset(f"nyu:{mat}", split="test", task="depth")
    assert val.ids == test.ids == ["0002", "0005"]
    np.testing.assert_array_equal(val[1].depth, depths[4])
    with pytest.raises(DatasetError, match="split 'extra' unknown, expected train, val, test"):
        open_dataset(f"nyu:{mat}", split="extra", task="depth")


def test_split_file_given_as_mat_or_list(nyu, tmp_path: Path):
    mat, images, _ = nyu
    other = write_splits_mat(tmp_path / "mine.mat", [5], [1, 2])
    assert open_dataset(f"nyu:{mat},{other}", task="depth").ids == ["0005"]
    listing = tmp_path / "frames.txt"
    listing.write_text("# my split\ntrain 2\ntrain 4  # kitchen\n\nval 1\n")
    train = open_dataset(f"nyu:{mat},{listing}", task="depth")
    assert train.ids == ["0002", "0004"]
    np.testing.assert_array_equal(train[0].image, images[1])
    assert open_dataset(f"nyu:{mat},{listing}", split="val", task="depth").ids == ["0001"]
    assert train.describe()["split_file"] == str(listing.resolve())


def test_list_file_errors_name_the_line(nyu, tmp_path: Path):
    mat, _, _ = nyu
    listing = tmp_path / "bad.txt"
    listing.write_text("train 1\ntrain one\n")
    with pytest.raises(DatasetError, match=f"{listing}:2: got 'train one', expected SPLIT INDEX"):
        open_dataset(f"nyu:{mat},{listing}", task="depth")
    listing.write_text("train 1\nval 1\n")
    with pytest.raises(DatasetError, match="image 1 already listed on line 1"):
        open_dataset(f"nyu:{mat},{listing}", task="depth")
    listing.write_text("train 6\n")
    with pytest.raises(DatasetError, match=r"train index 6 outside 1..5"):
        open_dataset(f"nyu:{mat},{listing}", task="depth")


def test_missing_split_file_says_where_splits_mat_goes(tmp_path: Path):
    images, depths = nyu_arrays()
    mat = write_nyu_mat(tmp_path / "nyu.mat", images, depths)
    with pytest.raises(DatasetError, match=f"expected the official splits.mat .* at {tmp_path}"):
        open_dataset(f"nyu:{mat}", task="depth")
    with pytest.raises(DatasetError, match="no such split file"):
        open_dataset(f"nyu:{mat},{tmp_path / 'absent.txt'}", task="depth")


def test_files_that_are_not_the_dataset_are_refused(tmp_path: Path):
    images, depths = nyu_arrays()
    write_splits_mat(tmp_path / "splits.mat", [1], [2])
    text = tmp_path / "notes.mat"
    text.write_text("not hdf5")
    with pytest.raises(DatasetError, match=f"{text}: not an HDF5 file.*images .*depths"):
        open_dataset(f"nyu:{text}", task="depth")
    with pytest.raises(DatasetError, match="no such file"):
        open_dataset(f"nyu:{tmp_path / 'absent.mat'}", task="depth")
    only_images = tmp_path / "images_only.mat"
    with h5py.File(only_images, "w") as file:
        file["images"] = images.transpose(0, 3, 2, 1)
    with pytest.raises(DatasetError, match=f"{only_images}: no dataset depths; expected"):
        open_dataset(f"nyu:{only_images}", task="depth")
    empty = tmp_path / "empty.mat"
    h5py.File(empty, "w").close()
    with pytest.raises(DatasetError, match="no dataset images or depths"):
        open_dataset(f"nyu:{empty}", task="depth")
    short = write_nyu_mat(tmp_path / "short.mat", images, depths[:4])
    with pytest.raises(DatasetError, match=f"{short}: images .* and depths .* disagree"):
        open_dataset(f"nyu:{short}", task="depth")
    wrong_size = write_nyu_mat(tmp_path / "size.mat", images, depths[:, :5])
    with pytest.raises(DatasetError, match="disagree in count or size"):
        open_dataset(f"nyu:{wrong_size}", task="depth")


def test_source_pickles_and_reopens_the_file(nyu):
    mat, _, depths = nyu
    source = open_dataset(f"nyu:{mat}", task="depth")
    first = source[0]  # opens the HDF5 file in this process
    restored = pickle.loads(pickle.dumps(source))
    assert restored.ids == source.ids and restored.describe() == source.describe()
    np.testing.assert_array_equal(restored[0].depth, first.depth)
    np.testing.assert_array_equal(restored[0].depth, depths[0])


def test_nyu_needs_the_depth_task_and_one_class(nyu):
    mat, _, _ = nyu
    with pytest.raises(DatasetError, match="depth dataset.*use --task depth"):
        open_dataset(f"nyu:{mat}")
    with pytest.raises(DatasetError, match="--classes 40 given for a depth dataset"):
        open_dataset(f"nyu:{mat}", task="depth", num_classes=40)


indices = st.lists(st.integers(1, 100_000), unique=True, max_size=30)
noise = st.sampled_from(["", "   ", "# a comment", "  # indented comment", "#"])


@given(indices, st.data())
def test_list_file_round_trips_through_comments_and_blank_lines(numbers, data):
    cut = data.draw(st.integers(0, len(numbers)))
    splits = {"train": numbers[:cut], "val": numbers[cut:]}
    lines = format_split_list(splits).splitlines()
    noisy: list[str] = []
    for line in lines:
        noisy += data.draw(st.lists(noise, max_size=2))
        comment = data.draw(st.sampled_from(["", "  # note", "\t#x"]))
        noisy.append(line + (comment if not line.startswith("#") else ""))
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    assert parse_split_list(newline.join(noisy), "f.txt") == splits


def test_missing_h5py_names_the_extra(nyu, monkeypatch):
    mat, _, _ = nyu
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)  # import h5py now fails
    with pytest.raises(DatasetError, match=r"needs h5py; pip install 'segnas\[nyu\]'"):
        open_dataset(f"nyu:{mat}", task="depth")


def test_spec_takes_one_or_two_paths():
    assert parse_spec("nyu:a.mat") == DatasetSpec("nyu", ("a.mat",))
    assert str(parse_spec("nyu: a.mat , splits.txt")) == "nyu:a.mat,splits.txt"
    for bad in ("nyu", "nyu:a,b,c", "nyu:a.mat,"):
        with pytest.raises(DatasetError, match=r"expected nyu:FILE.mat\[,SPLITS\] \(1 or 2"):
            parse_spec(bad)
