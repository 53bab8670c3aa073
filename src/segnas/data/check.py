"""`segnas data check`: read every sample once and report all problems with their files.

Reading runs in DataLoader workers, one sample per task, and every failure is caught where it
happens and turned into a `Problem`, so one bad file never stops the scan.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader, Dataset

from segnas.data.io import SampleError
from segnas.data.pose_check import PoseFacts, inspect_pose
from segnas.data.source import DatasetError, Problem, ProblemKind, SegmentationSource
from segnas.data.spec import open_dataset
from segnas.data.split import subset

log = logging.getLogger(__name__)


@dataclass
class _Facts:
    """What the scan learns from one sample (small and picklable, to cross process borders)."""

    size: tuple[int, int] | None
    histogram: np.ndarray | None
    """(256,) pixel counts per mask value."""
    problems: list[Problem]
    depth: DepthFacts | None = None
    """Depth figures, for depth sources."""
    pose: PoseFacts | None = None
    """Instance and keypoint figures, for pose sources."""


@dataclass
class DepthFacts:
    """Valid range and missing pixels of some depth maps; `add` merges two."""

    pixels: int = 0
    missing: int = 0
    """Pixels that are 0 or NaN (no measurement)."""
    low: float | None = None
    """Smallest valid depth (metres), None when no pixel is valid."""
    high: float | None = None

    @classmethod
    def of(cls, depth: np.ndarray) -> DepthFacts:
        valid = depth[np.isfinite(depth) & (depth > 0)]
        if not valid.size:
            return cls(int(depth.size), int(depth.size))
        low, high = float(valid.min()), float(valid.max())
        return cls(int(depth.size), int(depth.size - valid.size), low, high)

    def add(self, other: DepthFacts) -> None:
        self.pixels += other.pixels
        self.missing += other.missing
        lows = [v for v in (self.low, other.low) if v is not None]
        highs = [v for v in (self.high, other.high) if v is not None]
        self.low, self.high = min(lows, default=None), max(highs, default=None)

    @property
    def missing_share(self) -> float:
        return self.missing / self.pixels if self.pixels else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "min": self.low,
            "max": self.high,
            "pixels": self.pixels,
            "missing_pixels": self.missing,
            "missing_share": self.missing_share,
        }


def inspect_sample(source: SegmentationSource, i: int) -> _Facts:
    """Read sample `i` and list what is wrong with it; never raises for bad data."""
    sample_id = source.ids[i]
    files = source.files(i)
    try:
        sample = source[i]
    except SampleError as err:
        path = err.path or files[0]
        message = str(err).removeprefix(f"{path}: ")  # the path has its own column
        return _Facts(None, None, [Problem(path, err.kind, message, sample_id)])
    except Exception as err:  # a reader bug or an unexpected file must not end the scan
        message = f"cannot read ({type(err).__name__}: {err})"
        return _Facts(None, None, [Problem(files[0], ProblemKind.UNREADABLE, message, sample_id)])
    image, mask = sample.image, sample.mask
    mask_file = files[-1]
    problems = []
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        message = f"image is {image.shape} {image.dtype}, expected (H, W, 3) uint8"
        problems.append(Problem(files[0], ProblemKind.UNREADABLE, message, sample_id))
    if source.task == "depth":
        facts = inspect_depth(sample.depth, image, files, sample_id)
        problems += facts.problems
        return _Facts((int(image.shape[0]), int(image.shape[1])), None, problems, facts.depth)
    if source.task == "pose":
        found, pose = inspect_pose(sample, files, source.keypoint_names)
        size = (int(image.shape[0]), int(image.shape[1]))
        return _Facts(size, None, problems + found, pose=pose)
    if mask is None:
        problems.append(Problem(mask_file, ProblemKind.BAD_MASK, "sample has no mask", sample_id))
        return _Facts(None, None, problems)
    if mask.shape != image.shape[:2]:
        problems.append(
            Problem(
                mask_file,
                ProblemKind.SIZE_MISMATCH,
                f"mask is {mask.shape[1]}x{mask.shape[0]} (WxH) but image {files[0]} is "
                f"{image.shape[1]}x{image.shape[0]}",
                sample_id,
            )
        )
    histogram = np.bincount(mask.ravel(), minlength=256)[:256].astype(np.int64)
    bad = [v for v in range(source.num_classes, 256) if histogram[v] and v != source.ignore_index]
    if bad:
        shown = ", ".join(f"{v} ({histogram[v]} px)" for v in bad[:8])
        problems.append(
            Problem(
                mask_file,
                ProblemKind.LABEL_OUT_OF_RANGE,
                f"mask values {shown} outside 0..{source.num_classes - 1} "
                f"and not the ignore value {source.ignore_index}",
                sample_id,
            )
        )
    return _Facts((int(image.shape[0]), int(image.shape[1])), histogram, problems)


def inspect_depth(
    depth: np.ndarray | None, image: np.ndarray, files: tuple[str, ...], sample_id: str
) -> _Facts:
    """Problems and figures of one depth map (its size, values and missing pixels)."""
    depth_file = files[-1]
    if depth is None:
        message = "sample has no depth map"
        return _Facts(None, None, [Problem(depth_file, ProblemKind.BAD_DEPTH, message, sample_id)])
    problems = []
    if depth.shape != image.shape[:2]:
        problems.append(
            Problem(
                depth_file,
                ProblemKind.SIZE_MISMATCH,
                f"depth is {depth.shape[1]}x{depth.shape[0]} (WxH) but image {files[0]} is "
                f"{image.shape[1]}x{image.shape[0]}"
                if depth.ndim == 2
                else f"depth is {depth.shape}, expected (H, W) = {image.shape[:2]}",
                sample_id,
            )
        )
    infinite, negative = int(np.isinf(depth).sum()), int((depth < 0).sum())
    if infinite or negative:  # readers refuse these; a source that does not is caught here
        message = f"depth holds {infinite} infinite and {negative} negative value(s)"
        problems.append(Problem(depth_file, ProblemKind.BAD_DEPTH, message, sample_id))
    return _Facts(None, None, problems, DepthFacts.of(depth))


class _Scan(Dataset):
    def __init__(self, source: SegmentationSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> _Facts:
        return inspect_sample(self.source, i)


def _as_list(batch: list[_Facts]) -> list[_Facts]:
    return batch


@dataclass
class DataReport:
    """Counts, sizes, class histogram and every problem of one dataset split."""

    dataset: dict[str, Any]
    """The source's `describe()` (or the spec, when it could not be opened)."""
    task: str = "segmentation"
    """The source's task; depth reports carry `depth` instead of class pixels."""
    class_names: list[str] = field(default_factory=list)
    ignore_index: int = 255
    count: int = 0
    """Samples the source indexed (entries dropped while indexing are not counted)."""
    sizes: Counter = field(default_factory=Counter)
    """(height, width) -> number of samples."""
    class_pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """(num_classes,) labelled pixels per class."""
    ignore_pixels: int = 0
    out_of_range_pixels: int = 0
    depth: DepthFacts = field(default_factory=DepthFacts)
    """Valid depth range and missing pixels, for depth reports."""
    pose: PoseFacts = field(default_factory=PoseFacts)
    """Instances, images and keypoint counts, for pose reports."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Every problem is an error: each one would corrupt or stop training."""
        return self.problems

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_ids(self) -> list[str]:
        """Ids of indexed samples with at least one problem, in source order."""
        seen = dict.fromkeys(p.sample_id for p in self.problems if p.sample_id is not None)
        return list(seen)

    @property
    def dropped(self) -> int:
        """Files the reader could not turn into samples (unpaired, duplicate, bad lines...)."""
        return sum(p.sample_id is None and p.kind != ProblemKind.EMPTY_SPLIT for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        head = {
            "dataset": self.dataset,
            "count": self.count,
            "ok": self.ok,
            "sizes": [
                {"height": h, "width": w, "count": n} for (h, w), n in self.sizes.most_common()
            ],
        }
        if self.task == "depth":
            targets: dict[str, Any] = {"task": "depth", "depth": self.depth.to_dict()}
        elif self.task == "pose":
            targets = {"task": "pose", **self.pose.to_dict(self.class_names)}
        else:
            targets = {
                "class_pixels": {
                    name: int(n) for name, n in zip(self.class_names, self.class_pixels.tolist())
                },
                "ignore_pixels": self.ignore_pixels,
                "out_of_range_pixels": self.out_of_range_pixels,
            }
        tail = {"bad_ids": self.bad_ids, "problems": [p.to_dict() for p in self.problems]}
        return {**head, **targets, **tail}

    def render(self, console: Console) -> None:
        """Summary, image sizes, class histogram and the full problem list as rich tables."""
        title = " ".join(
            f"{k}={v}" for k, v in self.dataset.items() if k in ("format", "path", "split")
        )
        summary = Table(title=f"dataset {title}", show_header=False)
        summary.add_row("samples", str(self.count))
        summary.add_row("bad samples", str(len(self.bad_ids)))
        summary.add_row("dropped files", str(self.dropped))
        summary.add_row("problems", f"[red]{len(self.problems)}[/]" if self.problems else "0")
        console.print(summary)
        if self.sizes:
            sizes = Table(title="image sizes")
            for column in ("height", "width", "samples"):
                sizes.add_column(column, justify="right")
            for (h, w), n in self.sizes.most_common(10):
                sizes.add_row(str(h), str(w), str(n))
            if len(self.sizes) > 10:
                sizes.add_row("...", "...", f"{len(self.sizes) - 10} more sizes")
            console.print(sizes)
        if self.task == "depth":
            depth = Table(title="depth (metres)", show_header=False)
            low, high = self.depth.low, self.depth.high
            valid = "none" if low is None or high is None else f"{low:.3f} .. {high:.3f}"
            depth.add_row("valid range", valid)
            depth.add_row(
                "missing (0 or NaN)",
                f"{self.depth.missing} px ({100 * self.depth.missing_share:.2f}%)",
            )
            console.print(depth)
        elif self.task == "pose":
            self.pose.render(console, self.class_names)
        elif self.class_names:
            total = max(int(self.class_pixels.sum()) + self.ignore_pixels, 1)
            classes = Table(title="pixels per class")
            classes.add_column("id", justify="right")
            classes.add_column("class")
            classes.add_column("pixels", justify="right")
            classes.add_column("share", justify="right")
            rows = [*enumerate(zip(self.class_names, self.class_pixels.tolist()))]
            rows.append((self.ignore_index, ("(ignore)", self.ignore_pixels)))
            for k, (name, n) in rows:
                classes.add_row(str(k), name, str(n), f"{100 * n / total:.2f}%")
            console.print(classes)
        if self.problems:
            problems = Table(title="problems")
            problems.add_column("kind", style="red")
            problems.add_column("file", overflow="fold")
            problems.add_column("message", overflow="fold")
            for p in self.problems:
                problems.add_row(p.kind, p.path, p.message)
            console.print(problems)


def check_dataset(
    source: SegmentationSource | str,
    *,
    split: str = "train",
    num_classes: int | None = None,
    cache_dir: Path | None = None,
    num_workers: int = 2,
    task: str = "segmentation",
) -> DataReport:
    """Scan a source (or open the spec first; failure to open becomes one `unusable` problem).

    `task` is the task a spec is opened for; a source object is checked for its own `task`.
    """
    if isinstance(source, str):
        try:
            source = open_dataset(
                source, split=split, num_classes=num_classes, cache_dir=cache_dir, task=task
            )
        except DatasetError as err:
            spec = {"spec": source, "split": split}
            problem = Problem(err.path or source, err.kind, str(err))
            return DataReport(spec, task=task, problems=[problem])
    report = DataReport(
        source.describe(),
        task=source.task,
        class_names=list(source.class_names),
        ignore_index=source.ignore_index,
        count=len(source),
        class_pixels=np.zeros(source.num_classes, np.int64),
        problems=list(source.index_problems),
    )
    histogram = np.zeros(256, np.int64)
    workers = num_workers if len(source) > 1 else 0
    loader = DataLoader(_Scan(source), batch_size=4, num_workers=workers, collate_fn=_as_list)
    for batch in loader:
        for facts in batch:
            report.problems += facts.problems
            if facts.size is not None:
                report.sizes[facts.size] += 1
            if facts.histogram is not None:
                histogram += facts.histogram
            if facts.depth is not None:
                report.depth.add(facts.depth)
            if facts.pose is not None:
                report.pose.add(facts.pose)
    report.class_pixels = histogram[: source.num_classes].copy()
    report.ignore_pixels = int(histogram[source.ignore_index])
    report.out_of_range_pixels = (
        int(histogram.sum() - report.class_pixels.sum()) - report.ignore_pixels
    )
    return report


def require_clean(
    source: SegmentationSource, report: DataReport, skip_bad: bool = False
) -> SegmentationSource:
    """The source itself when the report is clean; else an error listing the problems or, with
    `skip_bad`, the source without its bad samples (and a log line saying how many went)."""
    if report.ok:
        return source
    bad = set(report.bad_ids)
    kept = [i for i in source.ids if i not in bad]
    if not skip_bad or not kept:
        listing = "\n".join(f"  {p.kind}: {p.path}: {p.message}" for p in report.problems[:20])
        more = len(report.problems) - 20
        raise DatasetError(
            f"{source.name}:{source.split} has {len(report.problems)} problem(s)"
            + (", and no usable samples" if not kept else "")
            + f":\n{listing}"
            + (f"\n  ... and {more} more" if more > 0 else "")
            + ("\nfix them, or leave the bad samples out (--skip-bad-samples)" if kept else "")
        )
    skipped = len(bad) + report.dropped
    log.warning(
        "skipped %d bad sample(s) of %s:%s (%d unreadable or invalid, %d dropped while "
        "indexing); training on %d",
        *(skipped, source.name, source.split, len(bad), report.dropped, len(kept)),
    )
    return subset(source, kept) if bad else source
