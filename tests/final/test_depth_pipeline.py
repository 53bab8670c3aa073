"""Depth end to end through the CLI on tiny built-in data: a 2-candidate depth search, full
training of its best design (killed, resumed), eval in Table 3 figures, predict (colour map and
16-bit millimetres) and TorchScript export with parity; a depth model refuses the segmentation
task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segnas.final.train as final_train
from segnas.cli import main
from segnas.data.io import read_image
from segnas.final.depth_predict import millimetres, predict_depth_map
from segnas.final.eval import load_checked
from segnas.final.inference import PlainNet
from segnas.search.store import SearchStore
from segnas.space.model_file import load_model
from segnas.tasks import task_from_meta
from tests.fixtures.kills import Killed, dies_on_call

DATA = "builtin:seed=0,size=64,train=24,val=8"
TRAIN_SETS = [
    *("--set", "decoder.channels=8", "--set", "decoder.repeats=1", "--set", "crop_size=64"),
    *("--set", "val_crop_size=64", "--set", "batch_size=8", "--set", "epochs_per_stage=2"),
]


def test_depth_search_train_resume_eval_predict_export(
    fresh_segnas_cache: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    search_dir = tmp_path / "search"
    search = ["search", "--data", DATA, "--task", "depth", "--budget", "2", "--device", "cpu"]
    sets = ["--set", "teacher=none", "--set", "rescore_top=0", "--set", "generation=2"]
    sets += ["--set", "evaluation.stage1.epochs=2", "--set", "val_count=8"]
    assert main([*search, "--run-dir", str(search_dir), *sets]) == 0
    store = SearchStore(search_dir / "search.sqlite")
    rows = store.candidates()
    store.close()
    assert [r["status"] for r in rows] == ["done", "done"], [r["failure"] for r in rows]
    for row in rows:  # depth figures, and the reward is delta < 1.25 (the default)
        assert set(row["stage2_metrics"]) >= {"rmse", "abs_rel", "delta1", "delta3"}
        assert row["reward"] == pytest.approx(row["stage2_metrics"]["delta1"])
        assert 0 < row["reward"] <= 1
    config = (search_dir / "config.yaml").read_text()
    assert "task: depth" in config and "scale: null" not in config  # resolved scale written

    run_dir = tmp_path / "train"
    train = ["train", f"{search_dir}:best", "--data", DATA, "--task", "depth", "--device", "cpu"]
    # the process dies during the second epoch's validation
    monkeypatch.setattr(final_train, "evaluate", dies_on_call(final_train.evaluate, 2))
    with pytest.raises(Killed):
        main([*train, "--run-dir", str(run_dir), *TRAIN_SETS])
    monkeypatch.undo()
    assert main([*train, "--run-dir", str(run_dir), "--resume", *TRAIN_SETS]) == 0
    recorded = json.loads((run_dir / "history.json").read_text())
    history = recorded["epochs"]
    assert recorded["task"]["name"] == "depth" and recorded["task"]["scale"] > 0
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[0]["decoder_lr"] == pytest.approx(7e-3)  # the depth recipe (SGD 7e-3)
    model = run_dir / "model.pt"
    net, meta = load_model(model)
    assert meta.task == "depth" and meta.num_classes == 1
    assert meta.task_options["scale"] > 0 and meta.info["metrics"]["delta1"] is not None
    config = (run_dir / "config.yaml").read_text()
    assert "decoder_optimizer: sgd" in config

    capsys.readouterr()
    assert main(["eval", str(model), "--data", DATA, "--device", "cpu", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["task"] == "depth" and figures["valid_pixels"] == 8 * 64 * 64
    for key in ("rmse", "rmse_log", "abs_rel", "sq_rel", "delta1", "delta2", "delta3"):
        assert figures[key] == pytest.approx(history[-1][key], rel=1e-5, abs=1e-6), key
    assert main(["eval", str(model), "--data", DATA, "--device", "cpu"]) == 0
    table = capsys.readouterr().out
    assert "RMSE (log)" in table and "δ < 1.25³" in table
    assert main(["eval", str(model), "--data", DATA, "--task", "segmentation"]) != 0
    assert "is a depth model" in capsys.readouterr().err

    image_path = tmp_path / "room.png"
    pixels = np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)
    Image.fromarray(pixels).save(image_path)
    assert main(["predict", str(model), str(image_path), "-o", str(tmp_path / "pred")]) == 0
    colour = Image.open(tmp_path / "pred" / "room_depth.png")
    assert colour.size == (56, 40) and colour.mode == "RGB"
    raw = np.asarray(Image.open(tmp_path / "pred" / "room_depth16.png"))
    assert raw.shape == (40, 56) and raw.dtype == np.uint16
    inference, meta = load_checked(model, "cpu")
    expected = predict_depth_map(
        inference, read_image(image_path), task_from_meta(meta), torch.device("cpu")
    )
    np.testing.assert_array_equal(raw, millimetres(expected))
    assert raw.min() > 0  # exp(output) x scale is never 0 m

    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        reference = PlainNet(net).eval()(x).numpy()
    # TorchScript: the ONNX path is the same code for every task and costs half a minute of
    # exporter time; test_pipeline.py exports segmentation to ONNX in `make test`
    out = tmp_path / "depth.ts"
    export = ["export", str(model), "--format", "torchscript", "-o", str(out), "--size", "64"]
    assert main([*export, "--latency-runs", "0"]) == 0
    card = json.loads(out.with_name(out.name + ".card.json").read_text())
    assert card["task"] == "depth" and card["task_options"]["scale"] == meta.task_options["scale"]
    with torch.inference_mode():
        got = torch.jit.load(str(out))(x).numpy()
    assert got.shape == (1, 1, 64, 96)
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=1e-4)
