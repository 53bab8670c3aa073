"""`segnas bench`: the runtime protocol and the comparison with torchvision's models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

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
    assert names == ["arch1", REFERENCE, "deeplabv3_mobilenet_v3_large"]
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
