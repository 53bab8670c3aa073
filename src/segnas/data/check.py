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
        return {
            "dataset": self.dataset,
            "count": self.count,
            "ok": self.ok,
            "sizes": [
                {"height": h, "width": w, "count": n} for (h, w), n in self.sizes.most_common()
            ],
            "class_pixels": {
                name: int(n) for name, n in zip(self.class_names, self.class_pixels.tolist())
            },
            "ignore_pixels": self.ignore_pixels,
            "out_of_range_pixels": self.out_of_range_pixels,
            "bad_ids": self.bad_ids,
            "problems": [p.to_dict() for p in self.problems],
        }

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
        if self.class_names:
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
) -> DataReport:
    """Scan a source (or open the spec first; failure to open becomes one `unusable` problem)."""
    if isinstance(source, str):
        try:
            source = open_dataset(source, split=split, num_classes=num_classes, cache_dir=cache_dir)
        except DatasetError as err:
            spec = {"spec": source, "split": split}
            return DataReport(spec, problems=[Problem(err.path or source, err.kind, str(err))])
    report = DataReport(
        source.describe(),
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
                histogram += facts.histogram
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
