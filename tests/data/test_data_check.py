"""Every kind of bad input gets its own problem, with the right file, through DataLoader
workers; nothing crashes or hangs; training refuses bad data unless told to skip it."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from segnas.data import (
    DatasetError,
    EvalTransform,
    ProblemKind,
    SegmentationDataset,
    check_dataset,
    open_dataset,
    require_clean,
    subset,
)
from tests.fixtures.datafiles import SbdTree, VocTree, labels, rgb, write_grey_png, write_rgb


def truncated(fmt: str) -> bytes:
    data = io.BytesIO()
    Image.fromarray(rgb(9, 40, 50)).save(data, fmt)
    return data.getvalue()[: len(data.getvalue()) // 2]


@pytest.fixture
def bad_folder(folder_tree: Path) -> Path:
    """folder_tree's good a, b, c plus one sample for each kind of problem (4 classes)."""
    images, masks = folder_tree / "images", folder_tree / "masks"
    (images / "junk.png").write_bytes(b"this is not a png at all" * 10)
    write_grey_png(masks / "junk.png", labels(1, 4))
    (images / "cut_png.png").write_bytes(truncated("PNG"))
    write_grey_png(masks / "cut_png.png", labels(1, 4, 40, 50))
    (images / "cut_jpg.jpg").write_bytes(truncated("JPEG"))
    write_grey_png(masks / "cut_jpg.png", labels(1, 4, 40, 50))
    write_rgb(images / "small.png", rgb(3, 10, 16))
    write_grey_png(masks / "small.png", labels(3, 4, 12, 16))
    write_rgb(images / "wild.png", rgb(4))
    wild = labels(4, 4)
    wild[2, 2:5] = 7
    wild[3, 3] = 254
    write_grey_png(masks / "wild.png", wild)
    write_rgb(images / "colour.png", rgb(5))
    write_rgb(masks / "colour.png", rgb(6))
    write_rgb(images / "lonely.png", rgb(7))
    write_grey_png(masks / "orphan.png", labels(8, 4))
    write_rgb(images / "twin.png", rgb(9))
    write_rgb(images / "twin.jpg", rgb(9))
    write_grey_png(masks / "twin.png", labels(9, 4))
    return folder_tree


def test_every_problem_kind_is_reported_with_its_file(bad_folder: Path):
    report = check_dataset(f"folder:{bad_folder}", num_workers=2)
    found = sorted(
        (p.kind, Path(p.path).relative_to(bad_folder).as_posix()) for p in report.problems
    )
    assert found == sorted(
        [
            (ProblemKind.UNREADABLE, "images/junk.png"),
            (ProblemKind.TRUNCATED, "images/cut_png.png"),
            (ProblemKind.TRUNCATED, "images/cut_jpg.jpg"),
            (ProblemKind.SIZE_MISMATCH, "masks/small.png"),
            (ProblemKind.LABEL_OUT_OF_RANGE, "masks/wild.png"),
            (ProblemKind.BAD_MASK, "masks/colour.png"),
            (ProblemKind.MISSING_PARTNER, "images/lonely.png"),
            (ProblemKind.MISSING_PARTNER, "masks/orphan.png"),
            (ProblemKind.DUPLICATE_STEM, "images/twin.jpg"),
            (ProblemKind.DUPLICATE_STEM, "images/twin.png"),
        ]
    )
    wild = next(p for p in report.problems if p.kind == ProblemKind.LABEL_OUT_OF_RANGE)
    assert "7 (3 px), 254 (1 px) outside 0..3" in wild.message
    small = next(p for p in report.problems if p.kind == ProblemKind.SIZE_MISMATCH)
    assert "mask is 16x12 (WxH)" in small.message and "is 16x10" in small.message
    assert not report.ok and report.count == 9
    assert sorted(report.bad_ids) == ["colour", "cut_jpg", "cut_png", "junk", "small", "wild"]
    assert report.dropped == 4
    assert report.sizes == {(12, 16): 4, (10, 16): 1}  # a, b, c, wild; small's image size
    readable_masks = 5  # a, b, c, small and wild: every mask read is counted
    assert report.class_pixels.sum() == readable_masks * (12 * 16 - 3) - 4
    assert report.out_of_range_pixels == 4 and report.ignore_pixels == readable_masks * 3


def test_a_clean_dataset_is_ok(folder_tree: Path):
    report = check_dataset(f"folder:{folder_tree}", num_workers=2)
    assert report.ok and report.problems == [] and report.count == 3
    assert (
        report.class_pixels.tolist()
        == np.bincount(np.concatenate([labels(k, 4).ravel() for k in range(3)]), minlength=256)[
            :4
        ].tolist()
    )


def test_empty_split_and_unopenable_datasets(tmp_path: Path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    report = check_dataset(f"folder:{tmp_path}", num_classes=2)
    assert [(p.kind, p.path) for p in report.problems] == [("empty_split", str(tmp_path))]
    report = check_dataset(f"voc:{tmp_path / 'absent'}")
    assert [p.kind for p in report.problems] == ["unusable"]
    assert report.problems[0].path == str(tmp_path / "absent")
    report = check_dataset(f"folder:{tmp_path}")
    assert report.problems[0].path == str(tmp_path / "classes.txt")


def test_list_file_problems(tmp_path: Path):
    write_rgb(tmp_path / "x.png", rgb(1))
    write_grey_png(tmp_path / "x_m.png", labels(1, 3))
    (tmp_path / "l.txt").write_text("x.png\tx_m.png\nno tab here\ny.png\tmissing.png\n")
    report = check_dataset(f"list:{tmp_path / 'l.txt'}", num_classes=3, num_workers=2)
    assert [(p.kind, p.path) for p in report.problems] == [
        ("bad_line", f"{tmp_path / 'l.txt'}:2"),
        ("missing_file", str(tmp_path / "y.png")),
        ("missing_file", str(tmp_path / "missing.png")),
    ]
    assert report.count == 1


def test_voc_missing_files_are_reported(voc_tree):
    (voc_tree.root / "SegmentationClass" / "2007_000002.png").unlink()
    report = check_dataset(f"voc:{voc_tree.root}", num_workers=2)
    assert [(p.kind, p.path) for p in report.problems] == [
        ("missing_file", str(voc_tree.root / "SegmentationClass" / "2007_000002.png"))
    ]


def test_training_refuses_bad_data_unless_skipping(bad_folder: Path, caplog):
    source = open_dataset(f"folder:{bad_folder}")
    report = check_dataset(source, num_workers=2)
    with pytest.raises(
        DatasetError, match=r"(?s)10 problem\(s\).*\n  unreadable: \S*junk\.png: not an image"
    ):
        require_clean(source, report)
    with caplog.at_level(logging.WARNING):
        clean = require_clean(source, report, skip_bad=True)
    assert clean.ids == ["a", "b", "c"]
    assert "skipped 10 bad sample(s)" in caplog.text and "training on 3" in caplog.text
    assert check_dataset(clean, num_workers=2).ok


def test_require_clean_passes_clean_data_through(folder_tree: Path):
    source = open_dataset(f"folder:{folder_tree}")
    assert require_clean(source, check_dataset(source, num_workers=0)) is source


def test_nothing_left_to_train_on_is_an_error(tmp_path: Path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.png").write_bytes(b"junk")
    write_grey_png(tmp_path / "masks" / "x.png", labels(0, 2))
    source = open_dataset(f"folder:{tmp_path}", num_classes=2)
    with pytest.raises(DatasetError, match="no usable samples"):
        require_clean(source, check_dataset(source), skip_bad=True)


def first_error(loader: DataLoader) -> str | None:
    """Iterate to the end and return the error message. The workers are shut down at once: the
    re-raised error sits in a reference cycle with the iterator, and an iterator freed by the
    garbage collector waits 5 s per worker."""
    iterator = iter(loader)
    try:
        for _ in iterator:
            pass
    except DatasetError as err:
        return str(err)
    finally:
        iterator._shutdown_workers()  # type: ignore[attr-defined]
    return None


def test_a_bad_sample_in_a_training_loader_raises_a_named_error(bad_folder: Path):
    source = open_dataset(f"folder:{bad_folder}")
    dataset = SegmentationDataset(subset(source, ["a", "cut_jpg", "b"]), EvalTransform(), seed=0)
    loader = DataLoader(dataset, batch_size=1, num_workers=2, timeout=60)
    assert "cut_jpg.jpg: image file is truncated" in (first_error(loader) or "")
    assert isinstance(dataset[0][0], torch.Tensor)


def test_sbd_and_cityscapes_problems(tmp_path: Path):
    voc = VocTree(tmp_path / "voc", train=("a",), val=("c",))
    sbd = SbdTree(tmp_path / "sbd", train=("d", "e"), val=())
    (sbd.root / "cls" / "d.mat").write_bytes(b"MATLAB 5.0 but not really")
    report = check_dataset(f"voc_aug:{voc.root},{tmp_path / 'sbd'}", num_workers=2)
    assert [(p.kind, p.path, p.sample_id) for p in report.problems] == [
        ("unreadable", str(sbd.root / "cls" / "d.mat"), "d")
    ]
    city = tmp_path / "cs"
    image = city / "leftImg8bit" / "val" / "ulm" / "ulm_000001_000019_leftImg8bit.png"
    mask = city / "gtFine" / "val" / "ulm" / "ulm_000002_000019_gtFine_labelIds.png"
    write_rgb(image, rgb(1))
    write_grey_png(mask, labels(1, 34))
    report = check_dataset(f"cityscapes:{city}", split="val", num_workers=2)
    assert [(p.kind, p.path) for p in report.problems] == [
        ("missing_partner", str(image)),
        ("missing_partner", str(mask)),
        ("empty_split", str(city)),
    ]
