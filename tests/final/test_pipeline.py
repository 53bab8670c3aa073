"""What a user does after a search, end to end through the CLI on tiny built-in data:
train arch1, get killed, resume, evaluate, predict, export to ONNX and TorchScript."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

import segnas.final.train as final_train
from segnas.cli import main
from segnas.final.export import exported_params
from segnas.final.inference import PlainNet
from segnas.space.model_file import load_model
from tests.fixtures.kills import Killed, dies_on_call

SPEC = "builtin:size=32,train=16,val=8"
SETS = [
    *("--set", "decoder.channels=8", "--set", "decoder.repeats=1", "--set", "crop_size=32"),
    *("--set", "val_crop_size=32", "--set", "batch_size=8", "--set", "epochs_per_stage=1"),
    *("--set", "aux_weights=[0.3, 0.15]"),
]


def test_train_resume_eval_predict_export(tmp_path: Path, segnas_cache: Path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    train = ["train", "arch1", "--data", SPEC, "--encoder-weights", "none", "--device", "cpu"]
    # the process dies during the second epoch's validation
    monkeypatch.setattr(final_train, "evaluate", dies_on_call(final_train.evaluate, 2))
    with pytest.raises(Killed):
        main([*train, "--run-dir", str(run_dir), *SETS])
    assert final_train.read_checkpoint(run_dir / "checkpoint.pt")["epoch"] == 1
    monkeypatch.undo()
    assert main([*train, "--run-dir", str(run_dir), "--resume", *SETS]) == 0
    history = json.loads((run_dir / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]
    model = run_dir / "model.pt"
    capsys.readouterr()

    assert main(["eval", str(model), "--data", SPEC, "--device", "cpu", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["mean_iou"] == pytest.approx(history["epochs"][-1]["miou"], abs=1e-6)

    image = tmp_path / "street.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)).save(image)
    assert main(["predict", str(model), str(image), "-o", str(tmp_path / "pred")]) == 0
    for suffix in ("mask", "overlay", "classes"):
        assert Image.open(tmp_path / "pred" / f"street_{suffix}.png").size == (56, 40)

    describe = ["describe", "arch1", "--classes", "9", "--channels", "8", "--repeats", "1"]
    capsys.readouterr()
    assert main([*describe, "--size", "64", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)["params"]
    net, _ = load_model(model)
    reference = PlainNet(net).eval()
    x = torch.randn(1, 3, 48, 72)
    with torch.inference_mode():
        expected = reference(x).numpy()
    for fmt, name in (("onnx", "model.onnx"), ("torchscript", "model.ts")):
        out = tmp_path / name
        args = ["export", str(model), "--format", fmt, "-o", str(out), "--size", "64"]
        assert main([*args, "--latency-runs", "0"]) == 0
        card = json.loads(out.with_name(out.name + ".card.json").read_text())
        assert card["params"] == described  # the model's own count, as `describe` gives it
        assert card["params_in_file"] == exported_params(out, fmt)
        if fmt == "onnx":  # batch norm folded into the convolutions: fewer tensors stored
            assert 0 < card["params_in_file"] < described
        else:
            assert card["params_in_file"] == described
        if fmt == "onnx":
            graph = onnx.load(str(out)).graph
            names = [i.name for i in graph.initializer] + [n.name for n in graph.node]
        else:
            names = [n for n, _ in torch.jit.load(str(out)).named_parameters()]
        assert names and not [n for n in names if "aux" in n]
        if fmt == "onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        else:
            with torch.inference_mode():
                got = torch.jit.load(str(out))(x).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
