"""``segnas data check --task depth`` and ``data preview --task depth`` through the `segnas`
entry point: figures of clean data, and every bad depth file named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from segnas.cli import main
from segnas.data import check_dataset
from tests.fixtures.datafiles import rgb, write_grey_png, write_rgb
from tests.fixtures.depthfiles import (
    depth_folder,
    millimetres,
    nyu_arrays,
    write_depth_png,
    write_npy,
    write_nyu_mat,
    write_splits_mat,
)


def test_check_clean_folder_reports_range_and_missing_share(tmp_path: Path, capsys):
    root = depth_folder(tmp_path / "d")
    args = ["data", "check", "--task", "depth", f"folder:{root}", "--workers", "0"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    values = np.stack([millimetres(k) for k in range(3)]) / 1000
    valid = values[values > 0]
    assert report["ok"] is True and report["count"] == 3 and report["task"] == "depth"
    assert report["dataset"]["task"] == "depth"
    assert report["sizes"] == [{"height": 12, "width": 16, "count": 3}]
    depth = report["depth"]
    assert np.isclose(depth["min"], valid.min()) and np.isclose(depth["max"], valid.max())
    assert depth["pixels"] == 3 * 12 * 16 and depth["missing_pixels"] == 6
    assert np.isclose(depth["missing_share"], 6 / (3 * 12 * 16))
    assert "class_pixels" not in report
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "valid range" in out and f"{valid.min():.3f} .. {valid.max():.3f}" in out
    assert "6 px (1.04%)" in out and "image sizes" in out and "pixels per class" not in out


def test_check_bad_folder_names_each_file(tmp_path: Path, capsys):
    root = depth_folder(tmp_path / "d", stems=("good",))
    write_rgb(root / "images" / "small.png", rgb(1))
    write_depth_png(root / "depth" / "small.png", millimetres(1, 6, 8))
    write_rgb(root / "images" / "byte.png", rgb(2))
    write_grey_png(root / "depth" / "byte.png", np.ones((12, 16), np.uint8))
    write_rgb(root / "images" / "inf.png", rgb(3))
    infinite = np.ones((12, 16), np.float32)
    infinite[0, 0] = -np.inf
    write_npy(root / "depth" / "inf.npy", infinite)
    write_rgb(root / "images" / "alone.png", rgb(4))
    args = ["data", "check", "--task", "depth", f"folder:{root}", "--json", "--workers", "2"]
    assert main(args) == 1
    report = json.loads(capsys.readouterr().out)
    found = sorted((p["kind"], Path(p["path"]).name) for p in report["problems"])
    assert found == [
        ("bad_depth", "byte.png"),
        ("bad_depth", "inf.npy"),
        ("missing_partner", "alone.png"),
        ("size_mismatch", "small.png"),
    ]
    assert sorted(report["bad_ids"]) == ["byte", "inf", "small"]
    mismatch = next(p for p in report["problems"] if p["kind"] == "size_mismatch")
    assert mismatch["path"] == str(root / "depth" / "small.png")
    assert mismatch["message"].startswith("depth is 8x6 (WxH) but image")
    assert report["depth"]["pixels"] == 12 * 16 + 6 * 8  # the readable ones still count


def test_check_of_a_depth_dataset_as_segmentation_is_unusable(tmp_path: Path, capsys):
    mat = write_nyu_mat(tmp_path / "nyu.mat", *nyu_arrays())
    write_splits_mat(tmp_path / "splits.mat", [1, 2], [3])
    assert main(["data", "check", f"nyu:{mat}", "--json"]) == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert problem["kind"] == "unusable" and problem["path"] == str(mat)
    assert "depth dataset" in problem["message"] and "use --task depth" in problem["message"]


def test_check_nyu_in_worker_processes(tmp_path: Path):
    images, depths = nyu_arrays()
    depths[0, :, :2] = 0
    mat = write_nyu_mat(tmp_path / "nyu.mat", images, depths)
    write_splits_mat(tmp_path / "splits.mat", [1, 2, 3, 4], [5])
    report = check_dataset(f"nyu:{mat}", task="depth", num_workers=2)
    assert report.ok and report.count == 4 and report.sizes == {(6, 8): 4}
    assert report.depth.missing == 12 and report.depth.pixels == 4 * 48
    assert report.depth.low == depths[:4][depths[:4] > 0].min()


def test_check_builtin_depth(tmp_path: Path):
    spec = "builtin:size=64,train=4,val=2"
    report = check_dataset(spec, task="depth", cache_dir=tmp_path, num_workers=0)
    assert report.ok and report.task == "depth" and report.count == 4
    assert report.depth.low is not None and 0 < report.depth.low < report.depth.high


def test_preview_depth_writes_image_and_colour_map(tmp_path: Path):
    root = depth_folder(tmp_path / "d")
    out = tmp_path / "preview.png"
    argv = ["data", "preview", "--task", "depth", f"folder:{root}", "-o", str(out)]
    assert main([*argv, "--count", "2", "--seed", "1"]) == 0
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape[1] == 2 * 2 * 128
    right = grid[16:112, 128:256]  # the depth tile: 12x16 scaled 8x, centred vertically
    assert len(np.unique(right.reshape(-1, 3), axis=0)) > 20
    assert (right[:8, :16] == 0).all()  # the holes at row 0, columns 0-1 are black
    assert (right[8:].max(axis=2) > 0).all()  # every measured pixel has a colour
