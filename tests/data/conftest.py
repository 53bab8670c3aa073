"""Fixtures for the data tests; the tree writers live in `tests/fixtures/datafiles.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.datafiles import VocTree, labels, rgb, write_grey_png, write_rgb


@pytest.fixture
def voc_tree(tmp_path: Path) -> VocTree:
    return VocTree(tmp_path / "voc")


@pytest.fixture
def folder_tree(tmp_path: Path) -> Path:
    """folder layout with 3 pairs (PNG images, greyscale masks, 4 classes) and classes.txt."""
    root = tmp_path / "folder"
    for k, stem in enumerate(["a", "b", "c"]):
        write_rgb(root / "images" / f"{stem}.png", rgb(k))
        write_grey_png(root / "masks" / f"{stem}.png", labels(k, 4))
    (root / "classes.txt").write_text("background\ncat\ndog\n# comment\n\nbird\n")
    return root
