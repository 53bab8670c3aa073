"""Scoring a depth model on a whole split at full resolution, and the paper's Table 3 layout.

Test-time augmentation as for segmentation (`segnas.final.eval`): per scale the input is
resized, mirrored when asked, and each output is brought back to the label size; the outputs
(log depth) are averaged before they become metres.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from rich.table import Table
from torch import nn
from torch.utils.data import DataLoader

from segnas.data.dataset import SegmentationDataset
from segnas.data.source import SegmentationSource
from segnas.data.transforms import EvalTransform
from segnas.final.eval import EvalSettings, same_size_batches, upsampled_views
from segnas.settings_io import to_dict
from segnas.tasks.base import finite_or_none
from segnas.tasks.depth import DepthTask, depth_metrics, depth_statistics

TABLE3_ROWS = (
    ("RMSE (lin)", "rmse"),
    ("RMSE (log)", "rmse_log"),
    ("abs rel", "abs_rel"),
    ("sqr rel", "sq_rel"),
    ("δ < 1.25", "delta1"),
    ("δ < 1.25²", "delta2"),
    ("δ < 1.25³", "delta3"),
)
"""The paper's Table 3 rows: (label, metric key). Lower is better for the first four."""


@torch.inference_mode()
def predict_depth(
    net: nn.Module,
    images: torch.Tensor,
    task: DepthTask,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
) -> torch.Tensor:
    """(B, 3, H, W) normalised images -> (B, H, W) depth in metres: the views' outputs (log
    depth, `upsampled_views`) averaged, then decoded."""
    total: torch.Tensor | None = None
    for out in upsampled_views(net, images, scales, flip):
        total = out if total is None else total.add_(out)
    assert total is not None
    return task.decode(total.div_(len(scales) * (2 if flip else 1)))


@dataclass
class DepthEvalReport:
    """Figures of one depth evaluation over all valid pixels of a split."""

    statistics: torch.Tensor
    """The `segnas.tasks.depth.STAT_NAMES` sums."""
    images: int
    seconds: float
    settings: EvalSettings

    @property
    def metrics(self) -> dict[str, float]:
        return depth_metrics(self.statistics)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; figures without valid pixels become null."""
        return {
            "images": self.images,
            "seconds": self.seconds,
            "settings": to_dict(self.settings),
            "valid_pixels": int(self.statistics[0]),
            **{k: finite_or_none(v) for k, v in self.metrics.items()},
        }


def evaluate_depth(
    net: nn.Module,
    source: SegmentationSource,
    task: DepthTask,
    settings: EvalSettings,
    device: torch.device | str,
    on_batch: Callable[[int], None] | None = None,
) -> DepthEvalReport:
    """Depth figures of `net` over every image of `source`, whole, at its own size."""
    start = time.perf_counter()
    device = torch.device(device)
    net.eval().to(device)
    dataset = SegmentationDataset(source, EvalTransform(target="depth"), 0)
    loader = DataLoader(dataset, batch_size=None, num_workers=settings.workers)
    stats = task.empty_statistics(device)
    for images, depth in same_size_batches(loader, settings.batch_size):
        pred = predict_depth(net, images.to(device), task, settings.scales, settings.flip)
        target = depth.to(device)
        stats += depth_statistics(pred, target, task.valid(target))
        if on_batch is not None:
            on_batch(len(depth))
    return DepthEvalReport(stats.cpu(), len(source), time.perf_counter() - start, settings)


def depth_table(columns: Mapping[str, Mapping[str, float | None]], title: str = "") -> Table:
    """The paper's Table 3: one row per figure, one column per model."""
    table = Table(title=title or None)
    table.add_column("")
    for name in columns:
        table.add_column(name, justify="right")
    for label, key in TABLE3_ROWS:
        table.add_row(label, *(_cell(figures.get(key)) for figures in columns.values()))
    return table


def depth_markdown(columns: Mapping[str, Mapping[str, Any]], extra_rows=()) -> str:
    """Table 3 as a Markdown table; `extra_rows` are (label, [cell per column]) pairs."""
    lines = [
        "| | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for label, key in TABLE3_ROWS:
        cells = [_cell(figures.get(key)) for figures in columns.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, cells in extra_rows:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"
