"""`evaluate_pose` on a tiny MPII fixture: crops on the ground-truth boxes, keypoints mapped back
to the image, PCKh with MPII's head sizes and the paper's Table 7 columns, checked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from segnas.data import open_dataset
from segnas.data.pose import MPII_KEYPOINT_NAMES
from segnas.final.pose_eval import evaluate_pose
from segnas.tasks import task_for_source
from segnas.tasks.pose_metrics import MPII_MEAN_JOINTS, MPII_TABLE_COLUMNS
from tests.fixtures.posefiles import mpii_record, write_mpii

SIZE = 60
"""Crop side: 15 x 15 heatmap cells of 4 px, cell 7's centre (30, 30) is the crop's centre."""


class CentrePeak(nn.Module):
    """Predicts every joint at the crop's centre: one-hot heatmaps at cell (7, 7)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = torch.zeros(x.shape[0], 16, SIZE // 4, SIZE // 4)
        maps[:, :, 7, 7] = 1.0
        return maps


def test_mpii_pckh_table_by_hand(tmp_path: Path) -> None:
    # One person per record; its box centre (MPII centre - 0.5 px, moved down 15 x scale) is
    # where CentrePeak's prediction lands in the image.
    centres = [(8.0, 6.0), (6.0, 9.0)]
    scale = 0.05
    records, truth = [], []
    for n, (cx, cy) in enumerate(centres):
        box_centre = np.array([cx - 0.5, cy - 0.5 + 15 * scale])
        offsets = np.zeros((16, 2))
        offsets[:, 0] = np.where(np.arange(16) % 3 == 0, 4.0, 0.5)  # 4 px: miss; 0.5 px: hit
        offsets[9] = 0.0  # the head top sits on the centre: a hit even at @0.1
        offsets[13 + n] = 1.2  # one more joint inside 0.5 x head size (1.5 px), not 0.1 x
        points = box_centre + offsets
        truth.append(points)
        joints = (points + 0.5).tolist()  # back to MPII's 1-based pixel centres
        records.append(mpii_record("a.png", joints, [1] * 16, centre=(cx, cy), scale=scale))
    heads = {"0": [0, 0, 3, 4], "1": [2, 2, 5, 6]}  # 3 x 4 boxes: head size 0.6 x 5 = 3 px
    write_mpii(tmp_path / "mpii", records, name="valid.json", heads=heads)
    source = open_dataset(f"mpii:{tmp_path / 'mpii'}", split="val", task="pose")
    task = task_for_source("pose", source)
    report = evaluate_pose(CentrePeak(), source, task, SIZE).metrics

    distances = np.linalg.norm(np.stack(truth) - np.stack(truth)[:, [9]], axis=-1)  # (2, 16)
    hits, strict = distances <= 1.5 + 1e-6, distances <= 0.3 + 1e-6
    np.testing.assert_allclose(report["per_joint_pckh"], hits.mean(axis=0), atol=1e-6)
    mean = list(MPII_MEAN_JOINTS)
    assert report["pckh"] == pytest.approx(hits[:, mean].mean())
    assert report["pckh_0.1"] == pytest.approx(strict[:, mean].mean())
    table = report["mpii_table"]
    assert list(table) == [*MPII_TABLE_COLUMNS, "Mean", "Mean@0.1"]
    for column, joints in MPII_TABLE_COLUMNS.items():
        assert table[column] == pytest.approx(hits[:, list(joints)].mean()), column
    assert table["Head"] == 1.0 and table["Mean"] == pytest.approx(report["pckh"])
    assert 0 < report["pckh"] < 1 and 0 < report["pckh_0.1"] < report["pckh"]
    assert "coco" not in report and report["boxes"] == "ground truth"  # MPII has no areas
    assert len(MPII_KEYPOINT_NAMES) == len(report["per_joint_pckh"]) == 16
