"""`segnas bench`: the runtime protocol and the comparison with torchvision's models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from segnas.baselines import BASELINES, smp_available
from segnas.cli import main
from segnas.cli.bench import REFERENCE
from segnas.final.bench import benchmark
from segnas.genotype import KNOWN_DESIGNS
from segnas.space.builder import DecoderSettings, build_network
from segnas.space.cost import measure_cost
from segnas.space.model_file import load_model


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.calls = 0
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.modes.append(self.training)
        return self.conv(x)


def test_benchmark_follows_the_protocol() -> None:
    module = Counting().train()
    result = benchmark(module, (16, 12), "cpu", runs=5, warmup=3)
    assert module.calls == 1 + 3 + 5  # one counting pass for the multiply-adds, warm-up, runs
    assert not any(module.modes), "every pass runs in eval mode"
    assert module.training, "the module comes back in the mode it came in"
    assert (result.runs, result.warmup, result.output_size) == (5, 3, (16, 12))
    assert result.mean_ms > 0 and result.std_ms >= 0
    assert result.params == 8 and result.madds == 16 * 12 * 2 * 3


def test_benchmark_refuses_a_single_run() -> None:
    with pytest.raises(ValueError, match="runs"):
        benchmark(Counting(), (8, 8), "cpu", runs=1)


def _bench(capsys, *args: str) -> list[dict]:
    assert main(["bench", *args, "--runs", "2", "--warmup", "0", "--json", "--device", "cpu"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_compares_with_torchvision_in_the_same_run(capsys) -> None:
    results = _bench(
        capsys, "arch1", "--size", "64", "--channels", "8", "--repeats", "1", "--compare"
    )
    names = [r["name"] for r in results]
    baselines = list(BASELINES) if smp_available() else []  # tests/final/test_baselines.py
    assert names == ["arch1", REFERENCE, "deeplabv3_mobilenet_v3_large", *baselines]
    assert all(r["output_size"] == [64, 64] for r in results)
    net = build_network(KNOWN_DESIGNS["arch1"], 21, DecoderSettings(8, 1, "none"), weights=None)
    cost = measure_cost(net, (64, 64))
    assert (results[0]["params"], results[0]["madds"]) == (cost.params, cost.madds)
    lraspp = results[1]["params"]
    assert 3.0e6 < lraspp < 3.5e6  # torchvision's LRASPP-MobileNetV3-Large: 3.2 M


def test_cli_times_a_model_file(capsys, model_file: Path) -> None:
    (result,) = _bench(capsys, str(model_file), "--size", "48", "--plain")
    assert result["output_size"] == [48, 48] and result["name"] == str(model_file)


def test_cli_refuses_bad_model_files(tmp_path: Path, model_file: Path, capsys) -> None:
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(model_file.read_bytes()[:1000])
    assert main(["bench", str(truncated), "--runs", "2", "--device", "cpu"]) == 2
    assert "truncated.pt" in capsys.readouterr().err


def test_cli_times_several_subjects_in_one_run_each_once(capsys, model_file: Path) -> None:
    args = [str(model_file), "arch2", str(model_file), "--size", "32", "--classes", "9"]
    results = _bench(capsys, *args, "--channels", "8", "--repeats", "1")
    assert [r["name"] for r in results] == [str(model_file), "arch2"]
    net = load_model(model_file)[0].for_inference()
    assert results[0]["params"] == sum(p.numel() for p in net.parameters())
    arch2 = build_network(KNOWN_DESIGNS["arch2"], 9, DecoderSettings(8, 1, "none"), weights=None)
    assert results[1]["madds"] == measure_cost(arch2, (32, 32)).madds


def _conv_onnx(path: Path, classes: int = 4) -> Path:
    """A one-layer segmentation 'model' (3x3 conv, 3 -> K channels) with dynamic axes."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((classes, 3, 3, 3), np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(classes, np.float32), "b")
    conv = helper.make_node(
        "Conv", ["image", "w", "b"], ["logits"], kernel_shape=[3, 3], pads=[1] * 4
    )
    axes = ["batch", None, "height", "width"]
    graph = helper.make_graph(
        [conv],
        "conv",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [axes[0], 3, *axes[2:]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [axes[0], classes, *axes[2:]])],
        [weight, bias],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_cli_times_an_onnx_file_in_onnx_runtime(capsys, tmp_path: Path) -> None:
    path = _conv_onnx(tmp_path / "conv.onnx")
    (result,) = _bench(capsys, str(path), "--size", "64")
    assert result["name"] == str(path) and result["output_size"] == [64, 64]
    assert result["mean_ms"] > 0 and result["threads"] == torch.get_num_threads()
    # Counted on the graph: 4 x 3 x 3 x 3 weights + 4 biases, 27 multiply-adds per output.
    assert (result["params"], result["madds"]) == (4 * 27 + 4, 64 * 64 * 4 * 27)
    # A model card beside the file gives the model's own parameter count (BN unfolded).
    path.with_name("conv.onnx.card.json").write_text(json.dumps({"params": 999}))
    (result,) = _bench(capsys, str(path), "--size", "32")
    assert (result["params"], result["madds"]) == (999, 32 * 32 * 4 * 27)


def test_cli_refuses_missing_and_broken_onnx_files(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    for path, reason in ((tmp_path / "none.onnx", "no such file"), (broken, "not an ONNX file")):
        assert main(["bench", str(path), "--runs", "2", "--device", "cpu"]) == 2
        assert f"{path}: {reason}" in capsys.readouterr().err


@pytest.mark.slow  # one export through the torch.export-based ONNX exporter: 25-50 s here
def test_cli_onnx_adds_the_exported_form_of_each_subject(capsys, model_file: Path) -> None:
    args = [str(model_file), "arch1", "--onnx", "--size", "64", "--classes", "9"]
    results = _bench(capsys, *args, "--channels", "8", "--repeats", "1")
    names = [r["name"] for r in results]
    assert names == [
        str(model_file),
        f"{model_file} (onnxruntime)",
        "arch1",
        "arch1 (onnxruntime)",
    ]
    for torch_row, onnx_row in zip(results[::2], results[1::2]):
        assert (onnx_row["params"], onnx_row["madds"]) == (torch_row["params"], torch_row["madds"])
        assert onnx_row["output_size"] == [64, 64] and onnx_row["mean_ms"] > 0
        assert onnx_row["runs"] == 2 and onnx_row["warmup"] == 0
