"""Data: the built-in generator, one reader per format, transforms, splits and checks.

Everything downstream sees a `SegmentationSource` of `Sample`s, opened by `open_dataset`.
"""

from segnas.data.builtin import (
    KEYPOINT_NAMES,
    BuiltinSettings,
    BuiltinSource,
    default_cache_root,
)
from segnas.data.check import DataReport, check_dataset, require_clean
from segnas.data.classes import make_palette
from segnas.data.dataset import SegmentationDataset, training_loader
from segnas.data.depth import read_depth
from segnas.data.depth_view import DepthView
from segnas.data.io import SampleError
from segnas.data.pose import COCO_KEYPOINT_NAMES, MPII_KEYPOINT_NAMES
from segnas.data.pose_transforms import (
    PoseAugment,
    PoseCrop,
    PoseEvalTransform,
    PoseTrainTransform,
    PoseTransform,
)
from segnas.data.pose_view import PoseView
from segnas.data.source import (
    IGNORE_INDEX,
    DatasetError,
    Problem,
    ProblemKind,
    Sample,
    SegmentationSource,
)
from segnas.data.spec import TASKS, DatasetSpec, open_dataset, parse_spec
from segnas.data.split import load_split, meta_split, save_split, subset
from segnas.data.transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform
from segnas.data.viz import colorize, colorize_depth, overlay, preview_grid

__all__ = [
    "COCO_KEYPOINT_NAMES",
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KEYPOINT_NAMES",
    "MPII_KEYPOINT_NAMES",
    "TASKS",
    "BuiltinSettings",
    "BuiltinSource",
    "DataReport",
    "DatasetError",
    "DatasetSpec",
    "DepthView",
    "EvalTransform",
    "PoseAugment",
    "PoseCrop",
    "PoseEvalTransform",
    "PoseTrainTransform",
    "PoseTransform",
    "PoseView",
    "Problem",
    "ProblemKind",
    "Sample",
    "SampleError",
    "SegmentationDataset",
    "SegmentationSource",
    "TrainTransform",
    "check_dataset",
    "colorize",
    "colorize_depth",
    "default_cache_root",
    "load_split",
    "make_palette",
    "meta_split",
    "open_dataset",
    "overlay",
    "parse_spec",
    "preview_grid",
    "read_depth",
    "require_clean",
    "save_split",
    "subset",
    "training_loader",
]
