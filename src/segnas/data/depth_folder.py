"""A plain depth folder: ``images/`` and ``depth/`` matched by file stem (``folder:PATH`` with
``--task depth``).

Layouts as for segmentation folders: ``PATH/{split}/images`` + ``PATH/{split}/depth`` when such a
folder exists, else ``PATH/images`` + ``PATH/depth`` as the ``train`` split. Depth files are
16-bit PNGs of millimetres (0 = missing) or float ``.npy`` arrays of metres (0 or NaN = missing);
no ``classes.txt`` is needed.
"""

from __future__ import annotations

from pathlib import Path

from segnas.data.depth import (
    DEPTH_CLASS_NAMES,
    DEPTH_EXTENSIONS,
    DEPTH_PALETTE,
    check_depth_classes,
    read_depth,
)
from segnas.data.folder import pair_by_stem, split_dir
from segnas.data.io import read_image
from segnas.data.paired import PairedFileSource
from segnas.data.source import Sample

DEPTH_FOLDER = "depth"


class DepthFolderSource(PairedFileSource):
    """Image/depth file pairs; each entry's `mask` field holds its depth file."""

    task = "depth"

    def __getitem__(self, i: int) -> Sample:
        entry = self.entries[i]
        return Sample(entry.id, read_image(entry.image), None, depth=read_depth(entry.mask))


def open_depth_folder(
    path: Path, split: str = "train", num_classes: int | None = None
) -> DepthFolderSource:
    """Pairs ``images/x.*`` with ``depth/x.{png,npy}``; every unpaired or ambiguous file is
    reported, and depth files of the wrong kind are refused when read (`segnas data check`)."""
    check_depth_classes(num_classes, f"folder:{path}")
    base = split_dir(path, split)
    entries, problems = pair_by_stem(base, DEPTH_FOLDER, "depth", DEPTH_EXTENSIONS)
    return DepthFolderSource(
        name="folder",
        split=split,
        root=base,
        entries=entries,
        class_names=list(DEPTH_CLASS_NAMES),
        palette=DEPTH_PALETTE.copy(),
        index_problems=problems,
        background_index=None,
        identity={"task": "depth"},
    )
