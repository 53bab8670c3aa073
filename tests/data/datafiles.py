"""Writers for fixture trees in each real on-disk layout, using the libraries the real data was
made with (palette PNGs with PIL, SBD ``.mat`` structs with scipy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat
from scipy.sparse import csc_matrix

from segnas.data import make_palette


def rgb(seed: int, h: int = 12, w: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def labels(seed: int, num_classes: int, h: int = 12, w: int = 16, ignore: bool = True):
    mask = np.random.default_rng(seed + 1000).integers(0, num_classes, (h, w)).astype(np.uint8)
    if ignore:
        mask[0, :3] = 255
    return mask


def write_rgb(path: Path, image: np.ndarray, **save: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, **save)
    return path


def write_palette_png(path: Path, mask: np.ndarray, num_colours: int = 256) -> Path:
    """A "P"-mode PNG like VOC's SegmentationClass files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), np.ascontiguousarray(mask))
    image.putpalette(make_palette(num_colours).ravel().tolist())
    image.save(path)
    return path


def write_grey_png(path: Path, mask: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)
    return path


def write_sbd_mat(path: Path, mask: np.ndarray) -> Path:
    """The layout of SBD's cls/*.mat: a struct GTcls with Segmentation (and the other fields)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    present = np.unique(mask[mask > 0]).astype(np.uint8)
    boundaries = np.empty((20, 1), dtype=object)  # a cell of sparse edge maps, one per class
    for k in range(20):
        boundaries[k, 0] = csc_matrix(mask == k + 1)
    savemat(
        str(path),
        {
            "GTcls": {
                "Segmentation": mask,
                "Boundaries": boundaries,
                "CategoriesPresent": present,
            }
        },
    )
    return path


class VocTree:
    """VOC2012 with ids a/b in train and c in val (JPEG images, palette masks)."""

    def __init__(self, root: Path, train=("2007_000001", "2007_000002"), val=("2007_000003",)):
        self.root = root / "VOCdevkit" / "VOC2012"
        self.images: dict[str, np.ndarray] = {}
        self.masks: dict[str, np.ndarray] = {}
        lists = self.root / "ImageSets" / "Segmentation"
        lists.mkdir(parents=True)
        for split, ids in (("train", train), ("val", val)):
            (lists / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        for k, sample_id in enumerate([*train, *val]):
            self.add(sample_id, k)

    def add(self, sample_id: str, seed: int) -> None:
        image, mask = rgb(seed), labels(seed, 21)
        write_rgb(self.root / "JPEGImages" / f"{sample_id}.jpg", image, quality=100, subsampling=0)
        write_palette_png(self.root / "SegmentationClass" / f"{sample_id}.png", mask)
        self.images[sample_id], self.masks[sample_id] = image, mask


class SbdTree:
    """benchmark_RELEASE/dataset with img/*.jpg, cls/*.mat, train.txt and val.txt."""

    def __init__(self, root: Path, train: tuple[str, ...], val: tuple[str, ...]):
        self.root = root / "benchmark_RELEASE" / "dataset"
        self.masks: dict[str, np.ndarray] = {}
        self.root.mkdir(parents=True)
        for split, ids in (("train", train), ("val", val)):
            (self.root / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        for k, sample_id in enumerate([*train, *val]):
            mask = labels(100 + k, 21, ignore=False)
            write_rgb(
                self.root / "img" / f"{sample_id}.jpg", rgb(100 + k), quality=100, subsampling=0
            )
            write_sbd_mat(self.root / "cls" / f"{sample_id}.mat", mask)
            self.masks[sample_id] = mask
