"""A disk cache of named arrays, keyed by a hash of what produced them.

Each entry is a folder of `.npy` files (opened memory-mapped) plus `meta.json`, filled in a
private folder and renamed into place (`atomic_write_folder`), so a killed run never leaves a
half-written entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from segnas.run_dir import atomic_write_folder


def cache_key(parts: Mapping[str, Any]) -> str:
    """A short stable hash of JSON-able key parts; any changed part gives a new key."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class ArrayCache:
    """Folder-per-key store of arrays: `get_or_build(key, parts, count, produce)`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        folder = self.path(key)
        meta_file = folder / "meta.json"
        if not meta_file.is_file():
            return None
        meta = json.loads(meta_file.read_text())
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in meta["arrays"]}

    def get_or_build(
        self,
        parts: Mapping[str, Any],
        count: int,
        produce: Callable[[], Iterable[Mapping[str, np.ndarray]]],
    ) -> tuple[dict[str, np.ndarray], bool]:
        """(arrays for `parts`, cache hit?), built from `produce()` batches when absent."""
        key = cache_key(parts)
        found = self.load(key)
        if found is not None:
            return found, True
        atomic_write_folder(self.path(key), lambda tmp: _fill(tmp, key, parts, count, produce))
        loaded = self.load(key)
        assert loaded is not None
        return loaded, False


def _fill(
    folder: Path,
    key: str,
    parts: Mapping[str, Any],
    count: int,
    produce: Callable[[], Iterable[Mapping[str, np.ndarray]]],
) -> None:
    """Write the `.npy` files of `produce()`'s batches and `meta.json` into `folder`."""
    arrays: dict[str, np.ndarray] = {}
    filled = 0
    for batch in produce():
        size = len(next(iter(batch.values())))
        for name, values in batch.items():
            if name not in arrays:
                arrays[name] = np.lib.format.open_memmap(
                    folder / f"{name}.npy", "w+", values.dtype, (count, *values.shape[1:])
                )
            arrays[name][filled : filled + size] = values
        filled += size
    if filled != count:
        raise RuntimeError(f"cache {key}: produced {filled} rows, expected {count}")
    for array in arrays.values():
        array.flush()
    meta = {"parts": parts, "count": count, "arrays": sorted(arrays)}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
