"""Pose figures: PCKh by hand, the MPII table's averaging, OKS and AP against pycocotools run
directly on COCO files written the ordinary way."""

from __future__ import annotations

import io
import json
import math
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from segnas.tasks.pose_metrics import (
    COCO_SIGMAS,
    COCO_STAT_NAMES,
    MPII_MEAN_JOINTS,
    MPII_TABLE_COLUMNS,
    Pckh,
    coco_keypoint_ap,
    mpii_table,
    oks,
    pckh,
)

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def two_people() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head sizes 10 and 20; joint 3 never visible, joint 2 visible for person 0 only."""
    gt = np.array(
        [
            [[0, 0, 1], [10, 10, 1], [20, 20, 2], [30, 30, 0]],
            [[0, 0, 1], [10, 10, 2], [20, 20, 0], [30, 30, 0]],
        ],
        dtype=np.float64,
    )
    pred = gt[..., :2].copy()
    pred[0, 0] += [3, 0]  # 0.3 head: right at 0.5, wrong at 0.1
    pred[0, 1] += [0, 0.5]  # 0.05: right at both
    pred[0, 2] += [6, 0]  # 0.6: wrong
    pred[0, 3] += [100, 100]  # never counted
    pred[1, 0] += [0, 12]  # 0.6: wrong
    pred[1, 1] += [0, 1.5]  # 0.075: right at both
    pred[1, 2] += [0, 0]  # invisible: not counted though right
    return pred, gt, np.array([10.0, 20.0])


def test_pckh_by_hand() -> None:
    pred, gt, heads = two_people()
    half = pckh(pred, gt, heads, threshold=0.5)
    np.testing.assert_array_equal(half.per_joint, [0.5, 1.0, 0.0, np.nan])
    assert half.counts.tolist() == [2, 2, 1, 0]
    assert half.mean == pytest.approx(3 / 5)  # weighted by counts, not (0.5 + 1 + 0) / 3
    tenth = pckh(pred, gt, heads, threshold=0.1)
    np.testing.assert_array_equal(tenth.per_joint, [0.0, 1.0, 0.0, np.nan])
    assert tenth.mean == pytest.approx(2 / 5)
    only = pckh(pred, gt, heads, threshold=0.5, mean_joints=[0, 2, 3])
    assert only.mean == pytest.approx(1 / 3)
    assert math.isnan(pckh(pred, gt, heads, mean_joints=[3]).mean)


def test_pckh_takes_predictions_with_a_score_column() -> None:
    pred, gt, heads = two_people()
    with_scores = np.concatenate([pred, np.full((2, 4, 1), 0.7)], axis=-1)
    assert pckh(with_scores, gt, heads).mean == pckh(pred, gt, heads).mean


def test_mpii_table_averages_left_and_right() -> None:
    per_joint = np.arange(16) / 20.0
    half = Pckh(per_joint, np.ones(16, dtype=int), 0.61)
    tenth = Pckh(per_joint / 2, np.ones(16, dtype=int), 0.2)
    row = mpii_table(half, tenth)
    assert list(row) == [*MPII_TABLE_COLUMNS, "Mean", "Mean@0.1"]
    assert row["Head"] == pytest.approx(9 / 20)
    assert row["Shoulder"] == pytest.approx((12 + 13) / 40)
    assert row["Ankle"] == pytest.approx((0 + 5) / 40)
    assert row["Mean"] == 0.61 and row["Mean@0.1"] == 0.2
    assert len(MPII_MEAN_JOINTS) == 14 and 6 not in MPII_MEAN_JOINTS


def test_mpii_table_takes_any_column_mapping() -> None:
    pred, gt, heads = two_people()
    row = mpii_table(pckh(pred, gt, heads), pckh(pred, gt, heads, 0.1), {"A": [0, 1], "B": [3]})
    assert row["A"] == pytest.approx(0.75) and math.isnan(row["B"])
    assert row["Mean"] == pytest.approx(3 / 5) and row["Mean@0.1"] == pytest.approx(2 / 5)


# --- COCO: the reference is pycocotools reading JSON files, as its users do -------------------


def person(rng: np.random.Generator, centre, size: float, labelled: int = 17) -> dict:
    kp = np.zeros((17, 3))
    kp[:, :2] = np.asarray(centre) + rng.uniform(-size / 2, size / 2, (17, 2))
    kp[:labelled, 2] = 2
    kp[labelled:, :2] = 0
    bbox = [centre[0] - size / 2, centre[1] - size / 2, size, size]
    return {"keypoints": kp, "bbox": bbox, "area": size * size * 0.6}


def reference_eval(tmp_path: Path, ground_truth: list[dict], predictions: list[dict]) -> COCOeval:
    """COCOeval on files written by hand (no code shared with segnas)."""
    images = sorted({g["image_id"] for g in ground_truth} | {p["image_id"] for p in predictions})
    anns = [
        {
            "id": i + 1,
            "image_id": g["image_id"],
            "category_id": 1,
            "keypoints": np.asarray(g["keypoints"]).ravel().tolist(),
            "num_keypoints": int((np.asarray(g["keypoints"])[:, 2] > 0).sum()),
            "bbox": list(g["bbox"]),
            "area": g["area"],
            "iscrowd": 0,
        }
        for i, g in enumerate(ground_truth)
    ]
    gt_file, dt_file = tmp_path / "gt.json", tmp_path / "dt.json"
    categories = [{"id": 1, "name": "person", "keypoints": [f"k{k}" for k in range(17)]}]
    dataset = {"images": [{"id": i} for i in images], "categories": categories}
    gt_file.write_text(json.dumps({**dataset, "annotations": anns}))
    results = [
        {
            "image_id": p["image_id"],
            "category_id": 1,
            "keypoints": np.asarray(p["keypoints"]).ravel().tolist(),
            "score": p["score"],
        }
        for p in predictions
    ]
    dt_file.write_text(json.dumps(results))
    with redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_file))
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(str(dt_file)), iouType="keypoints")
    return evaluator


def one_image_case() -> tuple[list[dict], list[dict]]:
    """Three ground truths (all, 9 and no joints labelled) and three predictions."""
    rng = np.random.default_rng(3)
    gts = [person(rng, (100, 100), 80), person(rng, (300, 120), 60, labelled=9)]
    gts.append(person(rng, (200, 300), 40, labelled=0))
    for g in gts:
        g["image_id"] = 7
    preds = []
    for g, noise, score in zip(gts, (2.0, 6.0, 5.0), (0.9, 0.6, 0.95)):
        kp = np.asarray(g["keypoints"], dtype=np.float64).copy()
        if not kp[:, 2].any():  # nothing labelled: predict around the box instead
            kp[:, :2] = np.asarray(g["bbox"][:2]) + rng.uniform(-45, 85, (17, 2))
        kp[:, :2] += rng.normal(0, noise, (17, 2))
        kp[:, 2] = rng.uniform(0.2, 1, 17)
        preds.append({"image_id": 7, "keypoints": kp, "score": score})
    return gts, preds


def test_oks_equals_pycocotools_compute_oks(tmp_path: Path) -> None:
    gts, preds = one_image_case()
    evaluator = reference_eval(tmp_path, gts, preds)
    evaluator.params.imgIds = [7]
    evaluator._prepare()
    reference = evaluator.computeOks(7, 1)  # rows: predictions by descending score
    order = np.argsort([-p["score"] for p in preds], kind="mergesort")
    ours = np.array(
        [
            [oks(preds[i]["keypoints"], g["keypoints"], g["area"], bbox=g["bbox"]) for g in gts]
            for i in order
        ]
    )
    assert reference.shape == (3, 3)
    np.testing.assert_array_equal(ours, reference)
    assert np.any((ours > 0.1) & (ours < 1)) and np.any(ours < 0.01)  # near and far pairs
    assert 0.5 < ours[0, 2] < 1  # top-scored, no joints labelled: some joints outside the box
    two_columns = oks(preds[0]["keypoints"][:, :2], gts[0]["keypoints"], gts[0]["area"])
    assert two_columns == oks(preds[0]["keypoints"], gts[0]["keypoints"], gts[0]["area"])


def test_oks_needs_a_box_without_labelled_joints() -> None:
    gts, preds = one_image_case()
    with pytest.raises(ValueError, match="bbox"):
        oks(preds[2]["keypoints"], gts[2]["keypoints"], gts[2]["area"])


def many_people(bad: bool) -> tuple[list[dict], list[dict]]:
    """Four images, persons of medium and large area; with `bad`, one prediction far off."""
    rng = np.random.default_rng(4)
    gts, preds = [], []
    for image_id, sizes in enumerate([(60, 150), (80,), (120, 50), (200,)], start=1):
        for j, size in enumerate(sizes):
            g = person(rng, (100 + 250 * j, 150), size, labelled=int(rng.integers(5, 18)))
            g["image_id"] = image_id
            gts.append(g)
            kp = np.asarray(g["keypoints"], dtype=np.float64).copy()
            kp[:, 2] = 0.8
            if bad:
                kp[:, :2] += rng.normal(0, 0.04 * size, (17, 2))
            preds.append({"image_id": image_id, "keypoints": kp, "score": 0.5 + 0.08 * j})
    if bad:
        preds[2]["keypoints"][:, :2] += 25  # the bad one
    return gts, preds


def test_perfect_predictions_score_one() -> None:
    gts, preds = many_people(bad=False)
    stats = coco_keypoint_ap(preds, gts)
    assert list(stats) == list(COCO_STAT_NAMES)
    assert all(value == pytest.approx(1.0) for value in stats.values())


def test_ap_equals_pycocotools_run_directly(tmp_path: Path) -> None:
    gts, preds = many_people(bad=True)
    stats = coco_keypoint_ap(preds, gts)
    evaluator = reference_eval(tmp_path, gts, preds)
    with redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert list(stats.values()) == pytest.approx(evaluator.stats.tolist())
    assert 0 < stats["AP"] < 1 and stats["AP50"] >= stats["AP75"] and stats["AP50"] >= stats["AP"]
    assert stats["AR50"] >= stats["AR75"]


def test_predictions_with_two_columns_and_a_score() -> None:
    gts, preds = many_people(bad=True)
    two = [{**p, "keypoints": np.asarray(p["keypoints"])[:, :2]} for p in preds]
    assert coco_keypoint_ap(two, gts) == coco_keypoint_ap(preds, gts)


def test_any_number_of_joints_with_its_own_sigmas() -> None:
    gt = {"image_id": 1, "keypoints": [[10, 10, 2], [50, 60, 2], [0, 0, 0]], "area": 5000.0}
    gt["bbox"] = [0, 0, 80, 80]
    good = {"image_id": 1, "keypoints": [[10, 11], [50, 61], [3, 3]], "score": 0.9}
    stats = coco_keypoint_ap([good], [gt], sigmas=[0.05, 0.05, 0.05])
    assert stats["AP"] == pytest.approx(1.0) and math.isnan(stats["APl"])  # area 5000 is medium
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        coco_keypoint_ap([good], [gt])  # COCO's 17 sigmas for 3 joints


def test_no_predictions_score_zero() -> None:
    gts, _ = many_people(bad=False)
    stats = coco_keypoint_ap([], gts)
    assert stats["AP"] == 0.0 and stats["AR"] == 0.0


def test_missing_pycocotools_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)
    with pytest.raises(ImportError, match=r"segnas\[pose\]"):
        coco_keypoint_ap([], [])


def test_coco_sigmas_are_pycocotools_defaults() -> None:
    from pycocotools.cocoeval import Params

    np.testing.assert_array_equal(COCO_SIGMAS, Params(iouType="keypoints").kpt_oks_sigmas)
