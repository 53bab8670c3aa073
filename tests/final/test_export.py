"""`segnas export`: ONNX and TorchScript files that match PyTorch at any size, and their cards."""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
from pathlib import Path

import onnx
import onnxruntime
import pytest
import torch

from segnas.cli import main
from segnas.final import export as export_module
from segnas.final.export import (
    ExportNet,
    ExportSettings,
    ParityError,
    export_model,
    exported_params,
    load_runner,
    onnx_runner,
)
from segnas.final.model_card import NOT_RECORDED, build_card, write_card
from segnas.genotype import resolve
from segnas.space.cost import measure_cost
from segnas.space.model_file import load_model

SIZE = 64


def _export_cli(model_file: Path, out: Path, *options: str) -> Path:
    argv = [
        "export",
        str(model_file),
        "--format",
        "onnx",
        "-o",
        str(out),
        "--size",
        str(SIZE),
        "--latency-runs",
        "2",
        "--device",
        "cpu",
        *options,
    ]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def onnx_file(model_file: Path, tmp_path_factory) -> Path:
    """One ONNX export through the command line (the slow step: ~20 s), shared by the tests."""
    return _export_cli(model_file, tmp_path_factory.mktemp("onnx") / "arch0.onnx")


@pytest.fixture(scope="module")
def subgrid_file(model_file: Path, tmp_path_factory) -> Path:
    """The same export with dilated depthwise convolutions on sub-grids (`--subgrids`)."""
    out = tmp_path_factory.mktemp("onnx-subgrids") / "arch0.onnx"
    return _export_cli(model_file, out, "--subgrids")


def _ops(path: Path) -> list[onnx.NodeProto]:
    return list(onnx.load(str(path)).graph.node)


def _dilated_depthwise(path: Path) -> list[str]:
    """Conv nodes with a dilation above 1 and one group per channel."""
    weights = {i.name: i.dims[0] for i in onnx.load(str(path)).graph.initializer if i.dims}
    found = []
    for node in _ops(path):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv" and max(attrs.get("dilations", [1])) > 1:
            if attrs.get("group", 1) == weights.get(node.input[1]):
                found.append(node.name)
    return found


def _folded_params(net) -> int:
    return sum(p.numel() for p in ExportNet(net, fold_bn=True).parameters())


def _assert_matches_pytorch(runner, reference: ExportNet) -> None:
    """Sizes whose feature maps (/4 to /32) are not multiples of the rates 3 and 6, batch 2."""
    for shape in [(1, 3, SIZE, SIZE), (2, 3, 40, 88), (1, 3, 96, 72)]:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = reference(x)
        got = runner(x)
        assert got.shape == (shape[0], 9, *shape[2:])
        assert (got - expected).abs().max() <= 1e-4 * expected.abs().max(), shape


@pytest.mark.slow  # the torch.export-based ONNX exporter: 25-50 s here
def test_onnx_matches_pytorch_at_other_sizes_with_dynamic_axes(onnx_file, model_file):
    net, _ = load_model(model_file)
    _assert_matches_pytorch(load_runner(onnx_file, "onnx"), ExportNet(net))
    graph = onnx.load(str(onnx_file)).graph
    dims = [
        [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (graph.input[0], graph.output[0])
    ]
    assert dims == [["batch", 3, "height", "width"], ["batch", 9, "height", "width"]]


@pytest.mark.slow  # the torch.export-based ONNX exporter: 25-50 s here
def test_onnx_graph_has_the_main_head_only_and_describes_parameters(onnx_file, model_file):
    graph = onnx.load(str(onnx_file)).graph
    names = [i.name for i in graph.initializer] + [n.name for n in graph.node]
    assert any("decoder.head.classifier" in n for n in names)
    assert not [n for n in names if "aux" in n]
    assert not [n for n in graph.node if n.op_type == "BatchNormalization"], "BN not folded"
    assert _dilated_depthwise(onnx_file), "dilated depthwise convolutions stay by default"
    net, _ = load_model(model_file)
    stored = exported_params(onnx_file, "onnx")
    assert stored == _folded_params(net) < measure_cost(net, (SIZE, SIZE)).params


@pytest.mark.slow  # the torch.export-based ONNX exporter: 25-50 s here
def test_onnx_card_records_cost_parity_latency_and_checksum(onnx_file, model_file):
    card = json.loads(onnx_file.with_name("arch0.onnx.card.json").read_text())
    net, meta = load_model(model_file)
    cost = measure_cost(net, (SIZE, SIZE))
    assert card["genotype"] == meta.genotype and card["class_names"] == meta.class_names
    assert (card["params"], card["madds"], card["output_stride"]) == (
        cost.params,
        cost.madds,
        cost.output_stride,
    )
    assert card["params_in_file"] == _folded_params(net) < cost.params  # the model's own above
    assert all(card[k] == NOT_RECORDED for k in ("metrics", "train_config", "dataset", "epochs"))
    export = card["export"]
    assert export["sha256"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert export["format"] == "onnx" and export["opset"] == 18
    assert [r.split(" (")[0] for r in export["rewrites"]] == ["batch norm folded"]
    assert export["dynamic_axes"]["image"] == {"0": "batch", "2": "height", "3": "width"}
    assert list(export["parity_max_abs_error"]) == ["1x3x64x64", "2x3x48x80"]
    assert all(0 <= e <= 1e-2 for e in export["parity_max_abs_error"].values())
    latency = card["latency"]
    assert latency["runs"] == 2 and latency["mean_ms"] > 0 and latency["threads"] >= 1
    assert latency["runtime"].startswith("onnxruntime")
    assert {"segnas", "torch", "onnxruntime"} <= set(card["versions"])
    text = onnx_file.with_name("arch0.onnx.card.md").read_text()
    assert meta.genotype in text and f"{cost.params:,}" in text and "ms (2 runs" in text


@pytest.mark.slow  # the torch.export-based ONNX exporter: 25-50 s here
def test_onnx_is_one_self_contained_file_that_runs_from_its_bytes(onnx_file, model_file):
    written = sorted(p.name for p in onnx_file.parent.iterdir())
    assert written == ["arch0.onnx", "arch0.onnx.card.json", "arch0.onnx.card.md"]
    model = onnx.load(str(onnx_file), load_external_data=False)
    assert model.graph.initializer, "no weights in the file"
    assert all(i.data_location == onnx.TensorProto.DEFAULT for i in model.graph.initializer)
    assert not [i.name for i in model.graph.initializer if i.external_data]
    net, _ = load_model(model_file)
    stored = sum(i.ByteSize() for i in model.graph.initializer)
    assert stored >= 4 * _folded_params(net)  # every float32 weight is inside
    # From bytes there is no folder to look for a `.data` file in: only a self-contained file runs.
    session = onnxruntime.InferenceSession(
        onnx_file.read_bytes(), providers=["CPUExecutionProvider"]
    )

    def run_bytes(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"image": x.numpy()})[0])

    _assert_matches_pytorch(run_bytes, ExportNet(net))


@pytest.mark.slow  # the torch.export-based ONNX exporter: 25-50 s here
def test_subgrid_export_has_no_dilated_depthwise_conv_and_matches_pytorch(subgrid_file, model_file):
    net, _ = load_model(model_file)
    _assert_matches_pytorch(load_runner(subgrid_file, "onnx"), ExportNet(net))
    assert _dilated_depthwise(subgrid_file) == []
    ops = [n.op_type for n in _ops(subgrid_file)]
    assert "BatchNormalization" not in ops
    assert ops.count("SpaceToDepth") == ops.count("DepthToSpace") > 0
    card = json.loads(subgrid_file.with_name("arch0.onnx.card.json").read_text())
    rewrites = card["export"]["rewrites"]
    assert rewrites[1] == f"dilated depthwise convolutions on sub-grids ({ops.count('Pad')})"
    assert card["params"] == measure_cost(net, (SIZE, SIZE)).params


@pytest.mark.slow  # the torch.export-based ONNX exporter: 25-50 s here
def test_plain_onnx_keeps_batch_norm_and_the_trained_parameters(model_file, tmp_path):
    net, _ = load_model(model_file)
    path = tmp_path / "plain.onnx"
    result = export_model(net, path, ExportSettings(size=SIZE, latency_runs=0, plain=True))
    assert result.rewrites == () and max(result.parity.values()) <= 1e-3
    assert any(n.op_type == "BatchNormalization" for n in _ops(path))
    assert result.params == measure_cost(net, (SIZE, SIZE)).params
    _assert_matches_pytorch(load_runner(path, "onnx"), ExportNet(net))


def _scratch_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("segnas-onnx-*"))


@pytest.mark.slow  # the torch.export-based ONNX exporter: 25-50 s here
def test_onnx_runner_runs_the_deployed_file_and_leaves_torch_threads_alone(model_file, tmp_path):
    net, _ = load_model(model_file)
    before = torch.get_num_threads()
    scratch = _scratch_folders()
    try:
        torch.set_num_threads(1)
        runner = onnx_runner(net, SIZE, threads=2)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert _scratch_folders() == scratch, "the temporary file is gone once the session has it"
    _assert_matches_pytorch(runner, ExportNet(net))
    # With a folder, the file stays there: the deployed form, batch norm folded.
    kept = onnx_runner(net, SIZE, threads=1, directory=tmp_path / "kept")
    (path,) = (tmp_path / "kept").iterdir()
    assert not [n for n in _ops(path) if n.op_type == "BatchNormalization"]
    x = torch.randn(1, 3, 48, 40, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(kept(x), runner(x), atol=1e-6)


def test_onnx_above_the_size_limit_is_refused_before_anything_is_written(
    model_file, tmp_path, monkeypatch, capsys
):
    net, _ = load_model(model_file)
    weights = export_module.state_bytes(ExportNet(net))
    params = measure_cost(net, (SIZE, SIZE)).params
    assert 4 * params < weights < 6 * params  # float32 parameters, plus batch-norm statistics
    monkeypatch.setattr(export_module, "ONNX_MAX_BYTES", weights)  # the graph no longer fits
    out = tmp_path / "out" / "big.onnx"
    argv = ["export", str(model_file), "-o", str(out), "--size", "64", "--device", "cpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--format onnx: the model's weights take" in err and "--format torchscript" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(export_module.ExportSizeError, match="self-contained ONNX file"):
        export_module.check_onnx_size(ExportNet(net), limit=weights)
    export_module.check_onnx_size(ExportNet(net), limit=weights + export_module.ONNX_GRAPH_MARGIN)


def test_torchscript_runs_at_other_sizes_and_card_copies_training_info(model_factory, tmp_path):
    info = {
        "metrics": {"miou": 0.42},
        "dataset": "builtin",
        "epochs": 3,
        "train_config": {"lr": 0.01},
    }
    net, meta = load_model(model_factory("with_info.pt", info=info))
    path = tmp_path / "model.pt"
    result = export_model(net, path, ExportSettings("torchscript", SIZE, latency_runs=0))
    _assert_matches_pytorch(load_runner(path, "torchscript"), ExportNet(net))
    loaded = torch.jit.load(str(path))
    assert not [n for n, _ in loaded.named_modules() if "aux_heads." in n]  # emptied list only
    assert any(n.endswith("decoder.head.classifier") for n, _ in loaded.named_modules())
    assert exported_params(path, "torchscript") == measure_cost(net, (SIZE, SIZE)).params
    assert result.latency is None and max(result.parity.values()) <= 1e-2
    json_path, md_path = write_card(path, build_card(net, meta, result))
    card = json.loads(json_path.read_text())
    assert {key: card[key] for key in info} == info
    assert card["latency"] == NOT_RECORDED and card["export"]["opset"] is None
    assert "onnxruntime" not in card["versions"]
    assert "miou" in md_path.read_text()


def test_parity_failure_removes_the_file(model_file, tmp_path, monkeypatch):
    real = export_module.load_runner

    def perturbed(*args, **kwargs):
        run = real(*args, **kwargs)
        return lambda x: run(x) + 1.0

    monkeypatch.setattr(export_module, "load_runner", perturbed)
    net, _ = load_model(model_file)
    path = tmp_path / "bad.pt"
    message = r"max abs error 1 .*exceeds .*tolerance 0\.0001.*removed"
    with pytest.raises(ParityError, match=message):
        export_model(net, path, ExportSettings("torchscript", SIZE, latency_runs=0))
    assert not path.exists()


class _Boom:
    def __reduce__(self):
        return (print, ("code ran",))


def _truncated(model_file: Path, folder: Path) -> Path:
    path = folder / "truncated.pt"
    path.write_bytes(model_file.read_bytes()[:2000])
    return path


def _code_carrying(model_file: Path, folder: Path) -> Path:
    path = folder / "evil.pt"
    torch.save({"format": "segnas-model/1", "meta": _Boom()}, path, pickle_protocol=2)
    return path


def _wrong_architecture(model_file: Path, folder: Path) -> Path:
    """arch0's weights under arch1's genotype: the file loads, the network does not match."""
    payload = torch.load(model_file, weights_only=True)
    payload["meta"]["genotype"] = str(resolve("arch1"))
    path = folder / "wrong_arch.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    ("make_bad", "reason"),
    [
        (_truncated, ": not a loadable segnas model file"),
        (_code_carrying, ": not a loadable segnas model file"),
        (_wrong_architecture, " does not match SegmentationNet:\n  missing keys: "),
    ],
)
def test_bad_model_files_are_refused_and_nothing_is_written(
    make_bad, reason, model_file, tmp_path, capsys
):
    bad = make_bad(model_file, tmp_path)
    out = tmp_path / "out.onnx"
    assert main(["export", str(bad), "-o", str(out), "--size", "64", "--device", "cpu"]) == 2
    captured = capsys.readouterr()
    assert f"{bad}{reason}" in captured.err
    assert "code ran" not in captured.out
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match=r"^format: got 'tflite', expected one of"):
        ExportSettings("tflite")
    with pytest.raises(ValueError, match=r"^latency_runs: got 1, expected 0 or >= 2"):
        ExportSettings(latency_runs=1)
    with pytest.raises(ValueError, match=r"^subgrids: got True, expected off with plain"):
        ExportSettings(plain=True, subgrids=True)
    assert pickle.loads(pickle.dumps(ExportSettings())) == ExportSettings()
