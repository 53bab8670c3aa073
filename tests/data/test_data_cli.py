"""``segnas data check`` / ``preview`` through an argparse parser, as segnas.cli wires them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from segnas.cli.data import add_data_commands


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="segnas")
    add_data_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_check_clean_folder_exits_zero_with_tables(folder_tree: Path, capsys):
    assert run("data", "check", f"folder:{folder_tree}") == 0
    out = capsys.readouterr().out
    assert "pixels per class" in out and "bird" in out and "image sizes" in out


def test_check_json_lists_problems_and_exits_one(folder_tree: Path, capsys):
    (folder_tree / "images" / "a.png").write_bytes(b"broken")
    assert run("data", "check", f"folder:{folder_tree}", "--json", "--workers", "2") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["count"] == 3 and report["bad_ids"] == ["a"]
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [
        ("unreadable", str(folder_tree / "images" / "a.png"))
    ]
    assert report["sizes"] == [{"height": 12, "width": 16, "count": 2}]


def test_check_unopenable_dataset_exits_one(tmp_path: Path, capsys):
    assert run("data", "check", f"folder:{tmp_path}", "--classes", "3") == 1
    assert "unusable" in capsys.readouterr().out


def test_preview_builtin_writes_a_grid(tmp_path: Path):
    out = tmp_path / "preview.png"
    cache = str(tmp_path / "cache")
    spec = "builtin:train=6,val=2,size=32"
    assert run("data", "preview", spec, "-o", str(out), "--count", "4", "--cache-dir", cache) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape[1] == 4 * 2 * 128 and grid.shape[0] > 128
    assert grid[:128, 128:256].std() > 10  # an overlay, not an empty tile


def test_preview_of_a_missing_dataset_exits_two(tmp_path: Path, capsys):
    assert run("data", "preview", f"voc:{tmp_path}", "-o", str(tmp_path / "x.png")) == 2
    assert "ImageSets/Segmentation" in capsys.readouterr().err
