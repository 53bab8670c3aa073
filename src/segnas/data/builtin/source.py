"""The built-in dataset as a `SegmentationSource`, cached on disk as raw ``.npy`` arrays.

Image i of a split is ``render_scene(default_rng([seed, split_code, i]))``: any image can be
regenerated alone, so the cache is only a speed-up. Arrays are memory-mapped, so DataLoader
workers share pages instead of copies, and a cached open takes milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from segnas.data.builtin.scene import Scene, render_scene
from segnas.data.builtin.settings import (
    CLASS_NAMES,
    GENERATOR_VERSION,
    KEYPOINT_NAMES,
    PALETTE,
    BuiltinSettings,
)
from segnas.data.source import DatasetError, Sample, SegmentationSource
from segnas.run_dir import atomic_write_folder

log = logging.getLogger(__name__)

SPLIT_CODES = {"train": 0, "val": 1}
"""Second word of every image's seed: train and val never share an image."""

ARRAYS = ("images", "masks", "depth", "keypoints")


def default_cache_root() -> Path:
    """Root of all segnas caches: ``$SEGNAS_CACHE``, else ``~/.cache/segnas``."""
    return Path(os.environ.get("SEGNAS_CACHE") or Path.home() / ".cache" / "segnas").expanduser()


def generate(config: BuiltinSettings, split: str, index: int) -> Scene:
    """Image `index` of `split`, independent of every other image."""
    if split not in SPLIT_CODES:
        raise DatasetError(f"builtin: split {split!r} unknown, expected train or val")
    rng = np.random.default_rng([config.seed, SPLIT_CODES[split], index])
    return render_scene(rng, *config.shape, marked_anchors=config.marked_anchors)


def generate_arrays(config: BuiltinSettings, split: str) -> dict[str, np.ndarray]:
    """Every image of a split, stacked: images (N,H,W,3) u8, masks (N,H,W) u8, depth (N,H,W)
    f16 (exact: scenes are float16-quantised), keypoints (N,K,3) f32."""
    n, (h, w) = config.count(split), config.shape
    out = {
        "images": np.empty((n, h, w, 3), np.uint8),
        "masks": np.empty((n, h, w), np.uint8),
        "depth": np.empty((n, h, w), np.float16),
        "keypoints": np.empty((n, len(KEYPOINT_NAMES), 3), np.float32),
    }
    for i in range(n):
        scene = generate(config, split, i)
        out["images"][i], out["masks"][i] = scene.image, scene.mask
        out["depth"][i], out["keypoints"][i] = scene.depth, scene.keypoints
    return out


def identity(config: BuiltinSettings, split: str) -> dict[str, Any]:
    """Everything that decides a split's bytes (the other split's size does not). Marked anchors
    add a key only when on, so plain scenes keep the cache keys they had before the option."""
    out: dict[str, Any] = {
        "format": "builtin",
        "split": split,
        "version": GENERATOR_VERSION,
        "seed": config.seed,
        "image_size": list(config.shape),
        "count": config.count(split),
    }
    if config.marked_anchors:
        out["marked_anchors"] = True
    return out


def cache_key(config: BuiltinSettings, split: str) -> str:
    text = json.dumps(identity(config, split), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_cache(folder: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write into a private temporary folder, then rename: readers never see half a cache (when
    another process finished first, its identical copy stays)."""

    def fill(tmp: Path) -> None:
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))

    atomic_write_folder(folder, fill)


def _read_cache(folder: Path) -> dict[str, np.ndarray] | None:
    if not (folder / "meta.json").is_file():
        return None
    try:
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    except (OSError, ValueError) as err:
        log.warning("ignoring damaged builtin cache %s (%s)", folder, err)
        return None


class BuiltinSource(SegmentationSource):
    """One split of the built-in dataset; see `CLASS_NAMES` and `KEYPOINT_NAMES`."""

    name = "builtin"

    def __init__(
        self, config: BuiltinSettings, split: str = "train", cache_dir: Path | None = None
    ) -> None:
        """Loads the split from `cache_dir` (default ``<cache root>/builtin``), generating and
        saving it first if needed. An unwritable cache only costs a warning."""
        self.config = config
        self.split = split
        count = config.count(split)
        self.ids = [f"{split}-{i:06d}" for i in range(count)]
        self.class_names = list(CLASS_NAMES)
        self.num_classes = len(CLASS_NAMES)
        self.palette = PALETTE.copy()
        self.background_index = 0
        self.cache_folder = (cache_dir or default_cache_root() / "builtin") / cache_key(
            config, split
        )
        self._arrays = self._load()

    def _load(self) -> dict[str, np.ndarray]:
        arrays = _read_cache(self.cache_folder)
        if arrays is not None:
            return arrays
        start = time.perf_counter()
        arrays = generate_arrays(self.config, self.split)
        log.info(
            "generated %d builtin %s images in %.1f s",
            len(self.ids),
            self.split,
            time.perf_counter() - start,
        )
        try:
            _write_cache(self.cache_folder, arrays, self.describe())
        except OSError as err:
            log.warning("cannot cache builtin data in %s (%s)", self.cache_folder, err)
            return arrays
        return _read_cache(self.cache_folder) or arrays

    def __getstate__(self) -> dict[str, Any]:
        """Workers reopen the memory maps rather than receiving copies of the arrays."""
        state = self.__dict__.copy()
        if all(isinstance(a, np.memmap) for a in self._arrays.values()):
            state["_arrays"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._arrays is None:
            self._arrays = _read_cache(self.cache_folder) or generate_arrays(
                self.config, self.split
            )

    def __getitem__(self, i: int) -> Sample:
        if not -len(self.ids) <= i < len(self.ids):
            raise IndexError(f"builtin {self.split}: index {i} out of range 0..{len(self.ids) - 1}")
        a = self._arrays
        return Sample(
            id=self.ids[i],
            image=np.asarray(a["images"][i]),
            mask=np.asarray(a["masks"][i]),
            depth=np.asarray(a["depth"][i], dtype=np.float32),
            keypoints=np.asarray(a["keypoints"][i]),
        )

    def describe(self) -> dict[str, Any]:
        return identity(self.config, self.split)
