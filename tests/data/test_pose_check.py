"""``segnas data check --task pose`` and ``data preview --task pose`` through the `segnas`
entry point: every kind of pose problem named with its sample and file, and clean figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from segnas.cli import main
from segnas.data import Sample, check_dataset
from segnas.data.pose import COCO_KEYPOINT_NAMES
from segnas.data.pose_check import box_problem, keypoint_problems
from tests.fixtures.posefiles import coco_annotation, coco_points, write_coco

NAMES = ("a", "b", "c")


def _problem_tree(root: Path) -> Path:
    """One clean instance and one of each problem kind; images are 12 x 16 (h x w)."""
    good = coco_points(nose=(3, 4, 2), left_eye=(5, 6, 1))
    outside = coco_points(nose=(16, 4, 2), left_eye=(2, 12, 1), right_eye=(-1, 20, 0))
    odd = coco_points(nose=(3, 4, 3))
    odd[5] = math.nan  # left_eye's visibility
    odd[3:5] = [5, 6]
    annotations = [
        coco_annotation(1, 1, good),
        coco_annotation(2, 1, outside),
        coco_annotation(3, 1, odd, num_keypoints=2),
        coco_annotation(4, 1, good, bbox=[1, 1, 0, 5]),
        coco_annotation(5, 2, good),  # unreadable image
        coco_annotation(6, 3, good),  # missing image
        coco_annotation(7, 1, good[:-3]),  # malformed: dropped while indexing
    ]
    path = write_coco(root, annotations, images={1: "a.png", 2: "b.png", 3: "c.png"})
    (root / "val2017" / "b.png").write_bytes(b"not a png at all")
    (root / "val2017" / "c.png").unlink()
    return path


def test_check_names_each_pose_problem(tmp_path: Path, capsys):
    root = tmp_path / "coco"
    path = _problem_tree(root)
    args = ["data", "check", "--task", "pose", f"coco:{root}", "--split", "val", "--json"]
    assert main([*args, "--workers", "2"]) == 1
    report = json.loads(capsys.readouterr().out)
    found = sorted((p["kind"], p["sample_id"], p["path"]) for p in report["problems"])
    where = f"{path}#annotations"
    assert found == [
        ("bad_annotation", None, f"{where}[6]"),
        ("bad_box", "4", f"{where}[3]"),
        ("bad_keypoints", "3", f"{where}[2]"),
        ("keypoint_outside", "2", f"{where}[1]"),
        ("missing_file", "6", str(root / "val2017" / "c.png")),
        ("unreadable", "5", str(root / "val2017" / "b.png")),
    ]
    messages = {p["kind"]: p["message"] for p in report["problems"]}
    assert messages["keypoint_outside"] == (
        "labelled keypoint outside the 16x12 (WxH) image, expected 0 <= x < 16 and 0 <= y < 12: "
        "0 (nose) at (16.5, 4.5) with visibility 2; 1 (left_eye) at (2.5, 12.5) with visibility 1"
    )
    assert messages["bad_keypoints"] == (
        "visibility not 0, 1 or 2 for keypoint 0 (nose) at (3.5, 4.5) with visibility 3; "
        "1 (left_eye) at (5.5, 6.5) with visibility nan"
    )
    assert messages["bad_box"] == (
        "box (x, y, w, h) = (1, 1, 0, 5) has zero or negative area, expected w > 0 and h > 0"
    )
    assert sorted(report["bad_ids"]) == ["2", "3", "4", "5", "6"]
    assert report["task"] == "pose" and report["count"] == 6 and report["instances"] == 4
    assert report["images"] == 1 and report["sizes"] == [{"height": 12, "width": 16, "count": 4}]
    nose = report["keypoints"]["nose"]
    assert nose == {"labelled": 3, "visible": 3}  # 3's nose has visibility 3: not counted
    assert report["keypoints"]["left_eye"] == {"labelled": 3, "visible": 0}
    assert list(report["keypoints"]) == list(COCO_KEYPOINT_NAMES)


def test_check_clean_pose_data_renders_keypoint_counts(tmp_path: Path, capsys):
    spec = "builtin:size=64,train=3,val=1"
    args = ["data", "check", "--task", "pose", spec, "--cache-dir", str(tmp_path), "--workers"]
    assert main([*args, "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["instances"] == 3 and report["images"] == 3
    assert list(report["keypoints"])[0] == "box_top_left" and "class_pixels" not in report
    assert main([*args, "0"]) == 0
    out = capsys.readouterr().out
    assert "keypoints (3 instances in 3 images)" in out and "disc_centre" in out
    assert "pixels per class" not in out


def test_unusable_pose_specs_are_reported(tmp_path: Path, capsys):
    assert main(["data", "check", "--task", "pose", f"voc:{tmp_path}", "--json"]) == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert problem["kind"] == "unusable" and "voc has no keypoints" in problem["message"]
    report = check_dataset(f"coco:{tmp_path}", split="val", task="pose")
    assert report.task == "pose" and report.problems[0].kind == "unusable"
    assert report.to_dict()["keypoints"] == {}


def test_keypoint_and_box_checks_directly():
    assert keypoint_problems(None, 4, 4, NAMES) == [("bad_keypoints", "sample has no keypoints")]
    [(kind, message)] = keypoint_problems(np.zeros((2, 3)), 4, 4, NAMES)
    assert kind == "bad_keypoints" and "shape (2, 3), expected (3, 3)" in message
    points = np.array([[np.nan, 1, 2], [1, 1, 0], [np.inf, np.nan, 0]])
    [(kind, message)] = keypoint_problems(points, 4, 4, NAMES)
    assert kind == "bad_keypoints" and message.startswith("labelled keypoint with non-finite")
    assert keypoint_problems(np.array([[1, 1, 2], [3.99, 0, 1], [9, 9, 0]]), 4, 4, NAMES) == []
    many = np.tile([[9.0, 9.0, 2.0]], (8, 1))
    [(_, message)] = keypoint_problems(many, 4, 4, [])  # no names: K from the array
    assert message.endswith("4 at (9, 9) with visibility 2; and 3 more")
    assert box_problem(None) is None and box_problem(np.array([0, 0, 1, 1])) is None
    assert "non-finite" in box_problem(np.array([0, 0, np.nan, 1]))
    assert "negative area" in box_problem(np.array([0, 0, 2, -1]))
    assert "shape (3,)" in box_problem(np.array([0, 0, 2]))
    sample = Sample("x", np.zeros((4, 4, 3), np.uint8), None, keypoints=np.zeros((3, 3)))
    assert sample.box is None and sample.image_id is None


def test_preview_pose_draws_keypoints(tmp_path: Path):
    root = tmp_path / "coco"
    big = coco_points(nose=(40, 30, 2), left_eye=(60, 30, 1))
    write_coco(root, [coco_annotation(1, 1, big, bbox=[10, 10, 80, 50])], sizes={1: (64, 96)})
    out = tmp_path / "preview.png"
    argv = ["data", "preview", "--task", "pose", f"coco:{root}", "--split", "val"]
    assert main([*argv, "-o", str(out), "--count", "1"]) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    scale, top = 128 / 96, (128 - round(64 * 128 / 96)) // 2
    from segnas.data.pose import keypoint_palette

    colour = keypoint_palette(17)[0]
    x, y = 128 + round(40.5 * scale), top + round(30.5 * scale)
    assert (grid[y, x] == colour).all()  # the filled nose disc
    assert (grid[top + round(10 * scale), 128 + round(50 * scale)] == 255).all()  # box edge
