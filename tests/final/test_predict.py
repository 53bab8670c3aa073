"""`segnas predict`: the three output images, input checks before work, names that never clash."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segnas.cli import main
from segnas.data.classes import make_palette
from segnas.data.viz import colorize, overlay
from segnas.final.predict import (
    collect_images,
    output_names,
    palette_for,
    predict_classes,
)
from segnas.space.model_file import ModelFileError, load_model
from tests.fixtures.models import RedClassifier


def write_image(path: Path, height: int, width: int, seed: int) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return np.asarray(Image.open(path).convert("RGB"))  # as decoded (jpg is lossy)


def test_predict_writes_mask_overlay_and_class_ids_per_image(model_file, tmp_path, capsys):
    inputs = {
        tmp_path / "a" / "img.png": write_image(tmp_path / "a" / "img.png", 37, 45, 0),
        tmp_path / "b" / "img.jpg": write_image(tmp_path / "b" / "img.jpg", 20, 30, 1),
        tmp_path / "b" / "solo.bmp": write_image(tmp_path / "b" / "solo.bmp", 16, 16, 2),
    }
    out = tmp_path / "out"
    argv = ["predict", str(model_file), str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out)]
    assert main([*argv, "--alpha", "0.3", "--device", "cpu"]) == 0
    index = json.loads((out / "predictions.json").read_text())
    palette = np.array(index["palette"], np.uint8)
    assert np.array_equal(palette, make_palette(9)) and index["class_names"][4] == "wire"
    assert [Path(e["input"]) for e in index["images"]] == list(inputs)
    names = [e["classes"].removesuffix("_classes.png") for e in index["images"]]
    assert names == ["img_png", "img_jpg", "solo"]  # the shared stem told apart, not overwritten
    assert len(list(out.glob("*.png"))) == 9
    for entry, image in zip(index["images"], inputs.values()):
        classes = np.asarray(Image.open(out / entry["classes"]))
        mask = np.asarray(Image.open(out / entry["mask"]))
        blended = np.asarray(Image.open(out / entry["overlay"]))
        assert classes.shape == image.shape[:2] == tuple(entry["size"])
        assert mask.shape == blended.shape == image.shape
        assert classes.max() < 9
        colours = {tuple(c) for c in mask.reshape(-1, 3).tolist()}
        assert colours <= {tuple(c) for c in palette.tolist()}
        assert np.array_equal(mask, colorize(classes, palette))
        assert np.array_equal(blended, overlay(image, classes, palette, 0.3))
    assert len(np.unique(np.asarray(Image.open(out / "img_png_classes.png")))) > 1
    assert "shares its stem" in capsys.readouterr().out


def test_predict_classes_normalises_like_eval_transform():
    reds = np.array([[0, 1, 2, 2], [2, 1, 0, 0], [1, 1, 1, 2]], np.uint8)
    image = np.stack([100 * reds, np.full_like(reds, 30), np.full_like(reds, 90)], -1)
    classes = predict_classes(RedClassifier(3), image, torch.device("cpu"), flip=True)
    assert classes.dtype == np.uint8 and np.array_equal(classes, reds)


def _broken_png(folder: Path) -> list[Path]:
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    return [folder]


def _text_file(folder: Path) -> list[Path]:
    (folder / "notes.txt").write_text("not an image")
    return [folder, folder / "notes.txt"]


def _missing(folder: Path) -> list[Path]:
    return [folder, folder.parent / "missing"]


@pytest.mark.parametrize(
    "make_bad, reason",
    [
        (_broken_png, "b.png: "),
        (_text_file, "notes.txt: not an image file"),
        (_missing, "missing: no such file or folder"),
    ],
)
def test_bad_inputs_stop_the_run_before_any_work(make_bad, reason, model_file, tmp_path, capsys):
    folder = tmp_path / "in"
    write_image(folder / "a.png", 8, 8, 0)  # a good image first: still nothing may be written
    named = make_bad(folder)
    out = tmp_path / "out"
    assert main(["predict", str(model_file), *map(str, named), "-o", str(out)]) == 2
    assert reason in capsys.readouterr().err
    assert not out.exists()


def test_output_names_are_distinct_and_stay_short_where_possible(tmp_path):
    paths = [
        tmp_path / "x" / "data" / "img.png",
        tmp_path / "y" / "data" / "img.png",
        tmp_path / "x" / "data" / "img.jpg",
        tmp_path / "solo.png",
    ]
    names = output_names(paths)
    assert names == ["x_data_img_png", "y_data_img_png", "img_jpg", "solo"]


def test_collect_images_keeps_a_file_named_twice_once(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = collect_images([tmp_path, tmp_path / "b.png"])
    assert found == [tmp_path / "a.JPG", tmp_path / "b.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: folder holds no images"):
        collect_images([tmp_path / "empty"])


def test_palette_comes_from_the_model_file_when_it_has_one(model_factory):
    _, meta = load_model(model_factory("palette.pt", calibrate=False))
    meta.info["palette"] = [[k, 2 * k, 255 - k] for k in range(9)]
    assert palette_for(meta, "m.pt")[3].tolist() == [3, 6, 252]
    meta.info["palette"] = [[0, 0, 0]] * 4
    with pytest.raises(ModelFileError, match=r"m.pt: info.palette has shape \(4, 3\)"):
        palette_for(meta, "m.pt")
