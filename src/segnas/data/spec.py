"""Dataset names on the command line, and `open_dataset`, the one door to every reader.

Grammar (``KIND:ARGUMENT``, split on the first colon so paths may contain colons)::

    builtin                          the generated dataset with its default settings
    builtin:seed=3,size=128,train=500,val=100     ... with some settings changed
    voc:PATH                         PASCAL VOC 2012 (PATH = VOC2012, VOCdevkit or above)
    voc_aug:VOC_PATH,SBD_PATH        VOC train_aug (train) / VOC val (val)
    sbd:PATH                         SBD on its own
    cityscapes:PATH                  Cityscapes fine, 19 train ids
    folder:PATH                      PATH/[split/]images + masks, matched by stem
    list:FILE                        image<TAB>mask lines
    nyu:FILE.mat[,SPLITS]            NYU Depth v2 labelled (depth only); splits.mat beside it
                                     or SPLITS (.mat, or SPLIT INDEX lines)
    coco:ROOT                        COCO 2017 keypoints (pose only): ROOT/annotations/
                                     person_keypoints_{split}2017.json + ROOT/{split}2017/
    mpii:ROOT                        MPII in HRNet's JSON (pose only): ROOT/annot/{split}.json
                                     + ROOT/images/

The split always comes from ``split`` (``--split``), as for every other format, so that one spec
names both the training and the validation data. With ``task="depth"`` only ``builtin`` (its
rendered depth), ``folder:PATH`` (PATH/[split/]images + depth: 16-bit PNG millimetres or .npy
metres) and ``nyu`` open; with ``task="pose"`` only ``builtin`` (one instance per scene, see
`PoseView`), ``coco`` and ``mpii``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from segnas.data.builtin import BuiltinSettings, BuiltinSource
from segnas.data.cityscapes import open_cityscapes
from segnas.data.coco import open_coco
from segnas.data.depth import check_depth_classes
from segnas.data.depth_folder import open_depth_folder
from segnas.data.depth_view import DepthView
from segnas.data.folder import open_folder
from segnas.data.listfile import open_list
from segnas.data.mpii import open_mpii
from segnas.data.nyu import open_nyu
from segnas.data.pose import check_pose_classes
from segnas.data.pose_view import PoseView
from segnas.data.sbd import open_sbd, open_voc_aug
from segnas.data.source import DatasetError, SegmentationSource
from segnas.data.voc import open_voc

PATH_COUNTS = {
    "voc": 1,
    "voc_aug": 2,
    "sbd": 1,
    "cityscapes": 1,
    "folder": 1,
    "list": 1,
    "nyu": 1,
    "coco": 1,
    "mpii": 1,
}
"""How many comma-separated paths each file format takes (at least, see `MAX_PATHS`)."""
MAX_PATHS = {"nyu": 2}
"""Formats that take optional extra paths, and their most paths."""
SHAPES = {"voc_aug": "VOC_PATH,SBD_PATH", "list": "FILE", "nyu": "FILE.mat[,SPLITS]"}
"""How each format's paths are spelled in errors (``PATH`` when not listed)."""

TASKS = ("segmentation", "depth", "pose")
"""What a dataset is opened for; `open_dataset`'s ``task``."""
DEPTH_KINDS = ("builtin", "folder", "nyu")
POSE_KINDS = ("builtin", "coco", "mpii")

KINDS = ("builtin", *PATH_COUNTS)

BUILTIN_OPTIONS = {"seed": "seed", "size": "image_size", "train": "train_count", "val": "val_count"}
"""``builtin:KEY=VALUE`` keys and the `BuiltinSettings` fields they set (all integers)."""


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset name; ``str()`` gives back the canonical spelling."""

    kind: str
    paths: tuple[str, ...] = ()
    options: tuple[tuple[str, int], ...] = ()
    """``builtin`` settings as sorted (key, value) pairs."""

    def __str__(self) -> str:
        if self.kind == "builtin":
            if not self.options:
                return "builtin"
            return "builtin:" + ",".join(f"{key}={value}" for key, value in self.options)
        return f"{self.kind}:{','.join(self.paths)}"


def _builtin_options(text: str, spec: str) -> tuple[tuple[str, int], ...]:
    options: dict[str, int] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in BUILTIN_OPTIONS:
            raise DatasetError(
                f"dataset {spec!r}: builtin option {item!r} unknown, expected KEY=VALUE with KEY "
                f"one of {', '.join(BUILTIN_OPTIONS)}"
            )
        if not value.isascii() or not value.isdigit():
            raise DatasetError(
                f"dataset {spec!r}: builtin option {key}={value!r} is not an integer"
            )
        if key in options:
            raise DatasetError(f"dataset {spec!r}: builtin option {key} given twice")
        options[key] = int(value)
    return tuple(sorted(options.items()))


def parse_spec(spec: str) -> DatasetSpec:
    """Parse a dataset name; the error says which part is wrong and what was expected."""
    kind, sep, rest = spec.strip().partition(":")
    if kind not in KINDS:
        raise DatasetError(
            f"dataset {spec!r}: unknown kind {kind!r}, expected one of "
            "builtin, voc:PATH, voc_aug:VOC_PATH,SBD_PATH, sbd:PATH, cityscapes:PATH, "
            "folder:PATH, list:FILE, nyu:FILE.mat[,SPLITS], coco:ROOT, mpii:ROOT"
        )
    if kind == "builtin":
        return DatasetSpec("builtin", options=_builtin_options(rest, spec) if rest else ())
    paths = tuple(part.strip() for part in rest.split(",")) if sep else ()
    wanted, most = PATH_COUNTS[kind], MAX_PATHS.get(kind, PATH_COUNTS[kind])
    if not wanted <= len(paths) <= most or not all(paths):
        count = f"{wanted}" if most == wanted else f"{wanted} or {most}"
        raise DatasetError(
            f"dataset {spec!r}: expected {kind}:{SHAPES.get(kind, 'PATH')} ({count} non-empty "
            f"path{'s' if most > 1 else ''}{', comma-separated' if most > 1 else ''})"
        )
    return DatasetSpec(kind, paths)


def builtin_config(spec: DatasetSpec, base: BuiltinSettings | None = None) -> BuiltinSettings:
    """`base` (or the defaults) with the spec's ``KEY=VALUE`` options applied."""
    changes = {BUILTIN_OPTIONS[key]: value for key, value in spec.options}
    return dataclasses.replace(base or BuiltinSettings(), **changes)


def _check_classes(source: SegmentationSource, num_classes: int | None) -> SegmentationSource:
    if num_classes is not None and num_classes != source.num_classes:
        raise DatasetError(
            f"--classes {num_classes} contradicts {source.name}, which defines "
            f"{source.num_classes} classes"
        )
    return source


def _open_depth(
    parsed: DatasetSpec,
    paths: list[Path],
    split: str,
    num_classes: int | None,
    cache_dir: Path | None,
    builtin: BuiltinSettings | None,
) -> SegmentationSource:
    if parsed.kind not in DEPTH_KINDS:
        raise DatasetError(
            f"{parsed.kind} has no depth; depth datasets are builtin, folder:PATH, "
            "nyu:FILE.mat[,SPLITS]"
        )
    if parsed.kind == "folder":
        return open_depth_folder(paths[0], split, num_classes)
    if parsed.kind == "nyu":
        return open_nyu(paths[0], paths[1] if len(paths) > 1 else None, split, num_classes)
    check_depth_classes(num_classes, str(parsed))
    return DepthView(BuiltinSource(builtin_config(parsed, builtin), split, cache_dir))


def _open_pose(
    parsed: DatasetSpec,
    paths: list[Path],
    split: str,
    num_classes: int | None,
    cache_dir: Path | None,
    builtin: BuiltinSettings | None,
) -> SegmentationSource:
    if parsed.kind not in POSE_KINDS:
        raise DatasetError(
            f"{parsed.kind} has no keypoints; pose datasets are builtin, coco:ROOT, mpii:ROOT"
        )
    if parsed.kind == "coco":
        return open_coco(paths[0], split, num_classes)
    if parsed.kind == "mpii":
        return open_mpii(paths[0], split, num_classes)
    config = dataclasses.replace(builtin_config(parsed, builtin), marked_anchors=True)
    view = PoseView(BuiltinSource(config, split, cache_dir))
    check_pose_classes(num_classes, view.num_classes, str(parsed))
    return view


def open_dataset(
    spec: str,
    *,
    split: str = "train",
    num_classes: int | None = None,
    cache_dir: Path | None = None,
    builtin: BuiltinSettings | None = None,
    task: str = "segmentation",
) -> SegmentationSource:
    """Open one split of the dataset `spec` names (grammar in this module's docstring).

    `num_classes` is required by formats without ``classes.txt`` and checked against the rest;
    `cache_dir` (default ``$SEGNAS_CACHE/builtin`` or ``~/.cache/segnas/builtin``) and
    `builtin` only matter for the built-in dataset. `task` (one of `TASKS`) picks the targets:
    class masks, depth from the formats that have it, or person keypoints (pose).
    """
    if task not in TASKS:
        raise DatasetError(f"task {task!r} unknown, expected one of {', '.join(TASKS)}")
    parsed = parse_spec(spec)
    paths = [Path(p).expanduser() for p in parsed.paths]
    if task == "depth":
        return _open_depth(parsed, paths, split, num_classes, cache_dir, builtin)
    if task == "pose":
        return _open_pose(parsed, paths, split, num_classes, cache_dir, builtin)
    if parsed.kind == "nyu":
        raise DatasetError(
            f"dataset {spec!r}: NYU Depth v2 is a depth dataset here (its labels are not read); "
            "use --task depth",
            path=parsed.paths[0],
        )
    if parsed.kind in ("coco", "mpii"):
        raise DatasetError(
            f"dataset {spec!r}: {parsed.kind} is a pose dataset here (no class masks are read); "
            "use --task pose",
            path=parsed.paths[0],
        )
    if parsed.kind == "builtin":
        config = builtin_config(parsed, builtin)
        return _check_classes(BuiltinSource(config, split, cache_dir), num_classes)
    if parsed.kind == "folder":
        return open_folder(paths[0], split, num_classes)
    if parsed.kind == "list":
        return open_list(paths[0], split, num_classes)
    if parsed.kind == "voc":
        source = open_voc(paths[0], split)
    elif parsed.kind == "voc_aug":
        source = open_voc_aug(paths[0], paths[1], split)
    elif parsed.kind == "sbd":
        source = open_sbd(paths[0], split)
    else:
        source = open_cityscapes(paths[0], split)
    return _check_classes(source, num_classes)
