"""Each real layout, written as the real data is, reads back to the expected arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segnas.data import DatasetError, open_dataset
from segnas.data.cityscapes import LABEL_TO_TRAIN
from segnas.data.io import read_sbd_mat
from segnas.data.voc import VOC_CLASSES
from tests.fixtures.datafiles import (
    SbdTree,
    VocTree,
    labels,
    rgb,
    write_grey_png,
    write_palette_png,
    write_rgb,
)


def close_to(decoded: np.ndarray, original: np.ndarray) -> bool:
    """JPEG at quality 100 is near-lossless; a wrong file or channel order would be far off."""
    return decoded.shape == original.shape and np.abs(decoded.astype(int) - original).mean() < 4


def test_voc_reads_palette_masks_and_split_lists(voc_tree: VocTree):
    for path in (voc_tree.root, voc_tree.root.parent, voc_tree.root.parent.parent):
        source = open_dataset(f"voc:{path}")
        assert source.ids == ["2007_000001", "2007_000002"]
    assert Image.open(voc_tree.root / "SegmentationClass" / "2007_000001.png").mode == "P"
    assert source.num_classes == 21 and source.class_names == VOC_CLASSES
    assert source.palette[1].tolist() == [128, 0, 0] and source.palette[15].tolist() == [
        192,
        128,
        128,
    ]
    for i, sample_id in enumerate(source.ids):
        sample = source[i]
        assert sample.id == sample_id
        assert sample.image.dtype == np.uint8 and close_to(sample.image, voc_tree.images[sample_id])
        np.testing.assert_array_equal(sample.mask, voc_tree.masks[sample_id])
        assert sample.mask[0, 0] == 255
    val = open_dataset(f"voc:{voc_tree.root}", split="val")
    assert val.ids == ["2007_000003"] and val.describe()["split"] == "val"
    assert val.describe()["path"] == str(voc_tree.root.resolve())


def test_voc_errors_name_the_missing_path(tmp_path: Path, voc_tree: VocTree):
    with pytest.raises(DatasetError, match="ImageSets/Segmentation"):
        open_dataset(f"voc:{tmp_path / 'nowhere'}")
    with pytest.raises(DatasetError, match=r"test\.txt.*available splits: train, val"):
        open_dataset(f"voc:{voc_tree.root}", split="test")
    with pytest.raises(DatasetError, match="--classes 5 contradicts voc"):
        open_dataset(f"voc:{voc_tree.root}", num_classes=5)


def test_sbd_mat_reads_back_as_written(tmp_path: Path):
    tree = SbdTree(tmp_path, train=("2008_000001",), val=("2008_000002",))
    mask = read_sbd_mat(tree.root / "cls" / "2008_000001.mat")
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, tree.masks["2008_000001"])
    source = open_dataset(f"sbd:{tmp_path}", split="val")
    assert source.ids == ["2008_000002"]
    np.testing.assert_array_equal(source[0].mask, tree.masks["2008_000002"])


def test_voc_aug_is_voc_train_plus_sbd_minus_voc_val(tmp_path: Path):
    voc = VocTree(tmp_path / "voc", train=("a", "b"), val=("c",))
    sbd = SbdTree(tmp_path / "sbd", train=("b", "d", "c"), val=("e",))
    source = open_dataset(f"voc_aug:{voc.root},{tmp_path / 'sbd'}")
    assert source.ids == ["a", "b", "d", "e"]
    assert source.name == "voc_aug" and source.describe()["sbd_path"] == str(sbd.root.resolve())
    by_id = {s.id: s for s in source}
    np.testing.assert_array_equal(by_id["b"].mask, voc.masks["b"])  # VOC's mask wins
    np.testing.assert_array_equal(by_id["d"].mask, sbd.masks["d"])
    np.testing.assert_array_equal(by_id["e"].mask, sbd.masks["e"])
    assert source.files(source.ids.index("d"))[1].endswith("cls/d.mat")
    val = open_dataset(f"voc_aug:{voc.root},{tmp_path / 'sbd'}", split="val")
    assert val.ids == ["c"]
    np.testing.assert_array_equal(val[0].mask, voc.masks["c"])


def write_cityscapes(root: Path, split: str, city: str, name: str, label_ids: np.ndarray):
    stem = f"{city}_{name}"
    image = rgb(len(stem), *label_ids.shape)
    write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", image)
    write_grey_png(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label_ids)
    return image


def test_cityscapes_maps_label_ids_to_19_train_ids(tmp_path: Path):
    label_ids = np.array([[7, 8, 26, 0], [33, 1, 24, 23], [6, 4, 31, 11]], dtype=np.uint8)
    expected = np.array([[0, 1, 13, 255], [18, 255, 11, 10], [255, 255, 16, 2]], dtype=np.uint8)
    image = write_cityscapes(tmp_path, "train", "aachen", "000000_000019", label_ids)
    write_cityscapes(tmp_path, "train", "bremen", "000001_000019", label_ids)
    write_cityscapes(tmp_path, "val", "lindau", "000000_000019", label_ids)
    source = open_dataset(f"cityscapes:{tmp_path}")
    assert source.ids == ["aachen_000000_000019", "bremen_000001_000019"]
    assert source.num_classes == 19 and source.class_names[13] == "car"
    assert source.background_index is None
    sample = source[0]
    np.testing.assert_array_equal(sample.image, image)
    np.testing.assert_array_equal(sample.mask, expected)
    assert open_dataset(f"cityscapes:{tmp_path}", split="val").ids == ["lindau_000000_000019"]
    assert (LABEL_TO_TRAIN != 255).sum() == 19


def test_folder_pairs_by_stem_with_classes_txt(folder_tree: Path):
    source = open_dataset(f"folder:{folder_tree}")
    assert source.ids == ["a", "b", "c"]
    assert source.class_names == ["background", "cat", "dog", "bird"]
    for k, sample in enumerate(source):
        np.testing.assert_array_equal(sample.image, rgb(k))
        np.testing.assert_array_equal(sample.mask, labels(k, 4))


def test_folder_split_subfolders_and_classes_option(tmp_path: Path):
    for split in ("train", "val"):
        write_rgb(tmp_path / split / "images" / f"{split}1.jpg", rgb(1), quality=100, subsampling=0)
        write_palette_png(tmp_path / split / "masks" / f"{split}1.png", labels(1, 3))
    with pytest.raises(DatasetError, match=r"classes\.txt.*--classes N"):
        open_dataset(f"folder:{tmp_path}")
    val = open_dataset(f"folder:{tmp_path}", split="val", num_classes=3)
    assert val.ids == ["val1"] and val.class_names == ["background", "class1", "class2"]
    np.testing.assert_array_equal(val[0].mask, labels(1, 3))
    (tmp_path / "classes.txt").write_text("a\nb\n")
    with pytest.raises(DatasetError, match="lists 2 classes but --classes is 3"):
        open_dataset(f"folder:{tmp_path}", num_classes=3)


def test_folder_without_split_folders_is_train_only(folder_tree: Path):
    with pytest.raises(DatasetError, match="train split only"):
        open_dataset(f"folder:{folder_tree}", split="val")


def test_list_file_paths_are_relative_to_the_file(tmp_path: Path):
    write_rgb(tmp_path / "imgs" / "x.png", rgb(5))
    write_grey_png(tmp_path / "anns" / "x_mask.png", labels(5, 6))
    write_rgb(tmp_path / "abs.png", rgb(6))
    write_grey_png(tmp_path / "abs_mask.png", labels(6, 6))
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "classes.txt").write_text("\n".join(f"c{k}" for k in range(6)))
    (lists / "train.txt").write_text(
        f"# image<TAB>mask\n../imgs/x.png\t../anns/x_mask.png\r\n\n{tmp_path / 'abs.png'}\t"
        f"{tmp_path / 'abs_mask.png'}\n"
    )
    source = open_dataset(f"list:{lists / 'train.txt'}")
    assert source.ids == ["x", "abs"] and source.num_classes == 6
    np.testing.assert_array_equal(source[0].image, rgb(5))
    np.testing.assert_array_equal(source[1].mask, labels(6, 6))
