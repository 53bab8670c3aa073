"""Hand-designed baselines (segmentation_models_pytorch decoders) on segnas's encoder weights:
built with no network, any input size, and trained, scored, exported and timed by the same
commands as a found design; segnas without SMP says how to install it."""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from segnas.baselines import (
    BASELINES,
    INSTALL_HINT,
    BaselineNet,
    BaselineUnavailableError,
    build_baseline,
    smp_available,
)
from segnas.cli import main
from segnas.cli.bench import REFERENCE
from segnas.encoders import build_encoder
from segnas.final.arch_ref import resolve_arch
from segnas.final.bench import count_madds
from segnas.final.export import ExportNet, load_runner
from segnas.final.train import read_checkpoint
from segnas.space.model_file import ModelFileError, ModelMeta, load_model, save_model
from segnas.weights import WeightsError, ensure_mobilenet_v2_weights, load_state_dict_file

TINY_DATA = "builtin:size=32,train=16,val=8"
"""9 classes, 32x32 images (the session cache of tests/final/conftest.py)."""
needs_smp = pytest.mark.skipif(not smp_available(), reason=f"needs SMP: {INSTALL_HINT}")
TV_TAPS = (3, 6, 13, 17)
"""torchvision `features` blocks after which segnas's MobileNet-v2 encoder has its taps."""
TRAIN_SETS = [
    *("--set", "epochs_per_stage=1", "--set", "batch_size=8", "--set", "crop_size=32"),
    *("--set", "val_crop_size=32", "--set", "val_batch_size=8"),
]


def _no_network(monkeypatch) -> None:
    """Every way a download could start raises: torch.hub, urllib, and raw sockets."""

    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _without_smp(monkeypatch) -> None:
    """`import segmentation_models_pytorch` fails from here on, as when it is not installed."""
    for name in [m for m in sys.modules if m.split(".")[0] == "segmentation_models_pytorch"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "segmentation_models_pytorch", None)


def test_resolve_arch_names_a_baseline_and_refuses_unknown_ones() -> None:
    arch = resolve_arch("smp:unet")
    assert (arch.baseline, arch.genotype, arch.design, arch.slug) == (
        "smp:unet",
        None,
        "smp:unet",
        "smp-unet",
    )
    with pytest.raises(ValueError, match="hand-designed baseline, not a searched design"):
        arch.searched()
    with pytest.raises(ValueError, match="smp:unet, smp:fpn, smp:deeplabv3plus"):
        resolve_arch("smp:nope")


def test_unknown_baseline_is_refused_by_the_commands(capsys) -> None:
    assert main(["train", "smp:nope", "--data", TINY_DATA, "--device", "cpu"]) == 2
    assert "smp:unet, smp:fpn, smp:deeplabv3plus" in capsys.readouterr().err
    assert main(["bench", "smp:nope", "--runs", "2", "--device", "cpu"]) == 2
    assert "unknown, expected one of smp:unet" in capsys.readouterr().err


@needs_smp
@pytest.mark.parametrize("name", list(BASELINES))
def test_imagenet_encoder_loads_offline_and_gives_segnas_features(name, monkeypatch) -> None:
    path = ensure_mobilenet_v2_weights()  # segnas's own offline copy, before the network goes
    _no_network(monkeypatch)
    net = build_baseline(name, 9).eval()
    ours = build_encoder("mobilenet_v2", "imagenet").eval()
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        taps = ours(x)
        y, theirs = x, []
        for index, block in enumerate(net.encoder.features[: TV_TAPS[-1] + 1]):
            y = block(y)
            if index in TV_TAPS:
                theirs.append(y)
    # DeepLabV3+ dilates the last stage (output stride 16): the stride-32 tap is not comparable.
    compared = 3 if name == "smp:deeplabv3plus" else 4
    for tap, (a, b) in enumerate(list(zip(taps, theirs))[:compared]):
        assert torch.equal(a, b), f"{name}: tap {tap} differs from segnas's encoder"
    file = load_state_dict_file(path)
    # The last 1x1 convolution (320 -> 1280), which segnas's encoder leaves out, is loaded too.
    assert torch.equal(
        net.encoder.state_dict()["features.18.0.weight"], file["features.18.0.weight"]
    )
    assert not hasattr(net.encoder, "classifier")


@needs_smp
@pytest.mark.parametrize("name", list(BASELINES))
def test_any_input_size_gives_logits_of_that_size(name) -> None:
    net = build_baseline(name, 5, weights=None).eval()
    multiple = BASELINES[name].pad_multiple
    x = torch.randn(2, 3, 40, 88, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = net(x)
        padded = F.pad(x, (0, (-88) % multiple, 0, (-40) % multiple))  # zeros, bottom and right
        assert out.shape == (2, 5, 40, 88)
        assert torch.equal(out, net.model(padded)[..., :40, :88])
        exact = torch.randn(1, 3, 64, 64)
        assert torch.equal(net(exact), net.model(exact))  # no padding at multiples


@needs_smp
def test_a_weights_file_that_does_not_fit_names_the_file_and_keys(tmp_path) -> None:
    state = load_state_dict_file(ensure_mobilenet_v2_weights())
    file = tmp_path / "partial.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("features.18.")}, file)
    with pytest.raises(WeightsError, match=r"partial\.pth[\s\S]*missing keys: features\.18"):
        build_baseline("smp:fpn", 9, weights=str(file))


def test_segnas_works_without_smp_and_says_how_to_install_it(
    tmp_path, segnas_cache, capsys, monkeypatch
) -> None:
    baseline_file = None
    if smp_available():
        baseline_file = tmp_path / "unet.pt"
        net = build_baseline("smp:unet", 9, weights=None)
        save_model(baseline_file, net, ModelMeta("smp:unet", 9, 0, 0, "none"))
    _without_smp(monkeypatch)
    assert not smp_available()
    with pytest.raises(BaselineUnavailableError, match=INSTALL_HINT.replace("[", r"\[")):
        build_baseline("smp:unet", 9)
    run_dir = tmp_path / "run"
    args = ["--data", TINY_DATA, "--device", "cpu", "--run-dir", str(run_dir)]
    assert main(["train", "smp:unet", *args]) == 2
    assert INSTALL_HINT in capsys.readouterr().err and not run_dir.exists()
    bench = ["--size", "64", "--runs", "2", "--warmup", "0", "--json", "--device", "cpu"]
    assert main(["bench", "arch1", "--channels", "8", "--repeats", "1", "--compare", *bench]) == 0
    out = capsys.readouterr()
    names = [r["name"] for r in json.loads(out.out)]
    assert names == ["arch1", REFERENCE, "deeplabv3_mobilenet_v3_large"]
    assert "left out" in out.err and INSTALL_HINT in " ".join(out.err.split())
    if baseline_file is not None:
        with pytest.raises(ModelFileError, match=INSTALL_HINT.replace("[", r"\[")):
            load_model(baseline_file)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, builtin_cache) -> Path:
    """`segnas train smp:unet` on the tiny built-in data: 4 stages of one epoch, ImageNet
    encoder from segnas's offline file."""
    if not smp_available():
        pytest.skip(f"needs SMP: {INSTALL_HINT}")
    run_dir = tmp_path_factory.mktemp("baseline") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGNAS_CACHE", str(builtin_cache))
        args = ["train", "smp:unet", "--data", TINY_DATA, "--device", "cpu"]
        assert main([*args, "--run-dir", str(run_dir), *TRAIN_SETS]) == 0
    return run_dir


def test_train_follows_the_recipe_without_auxiliary_heads(trained: Path) -> None:
    history = json.loads((trained / "history.json").read_text())
    assert (history["arch"], history["genotype"]) == ("smp:unet", "smp:unet")
    epochs = history["epochs"]
    assert [r["encoder_lr"] for r in epochs] == pytest.approx([1e-3, 5e-4, 2.5e-4, 6.25e-5])
    assert [r["decoder_lr"] for r in epochs] == pytest.approx([3e-3, 1.5e-3, 7.5e-4, 1.875e-4])
    assert [r["bn_frozen"] for r in epochs] == [False, False, False, True]
    assert all(r["aux_weight"] == 0 for r in epochs)
    state = read_checkpoint(trained / "checkpoint.pt")
    net = build_baseline("smp:unet", 9, weights=None)
    sgd, adam = (opt["param_groups"][0]["params"] for opt in state["optimizers"])
    assert len(sgd) == len(list(net.encoder.parameters()))
    assert len(sgd) + len(adam) == len(list(net.parameters()))  # Adam: all outside the encoder


def test_model_file_loads_back_with_the_trained_outputs(trained: Path) -> None:
    net, meta = load_model(trained / "model.pt")
    assert isinstance(net, BaselineNet) and meta.baseline == "smp:unet"
    assert meta.info["baseline"]["smp_class"] == "Unet" and meta.num_classes == 9
    reference = build_baseline("smp:unet", 9, weights=None)
    reference.load_state_dict(read_checkpoint(trained / "checkpoint.pt")["model"])
    x = torch.randn(2, 3, 40, 88)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), reference.eval()(x))
    with pytest.raises(ValueError, match="not a searched design"):
        meta.genotype_obj()


def test_eval_predict_and_bench_take_the_model_file(trained, tmp_path, segnas_cache, capsys):
    model = str(trained / "model.pt")
    history = json.loads((trained / "history.json").read_text())["epochs"]
    capsys.readouterr()
    assert main(["eval", model, "--data", TINY_DATA, "--device", "cpu", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["genotype"] == "smp:unet"
    assert metrics["mean_iou"] == pytest.approx(history[-1]["miou"], abs=1e-6)

    image = tmp_path / "odd.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 88, 3), np.uint8)).save(image)
    assert (
        main(["predict", model, str(image), "-o", str(tmp_path / "pred"), "--device", "cpu"]) == 0
    )
    assert Image.open(tmp_path / "pred" / "odd_classes.png").size == (88, 40)

    capsys.readouterr()
    bench = ["--size", "64", "--runs", "2", "--warmup", "0", "--json", "--device", "cpu"]
    assert main(["bench", model, "smp:unet", "--classes", "9", *bench]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in results] == [model, "smp:unet"]
    net, _ = load_model(Path(model))
    madds = count_madds(net.for_inference(), torch.zeros(1, 3, 64, 64))
    for result in results:
        assert result["params"] == sum(p.numel() for p in net.parameters())
        assert result["madds"] == madds and result["output_size"] == [64, 64]


def test_describe_and_draw_refuse_a_baseline(trained, tmp_path, capsys) -> None:
    for args in (
        ["describe", str(trained / "model.pt"), "--device", "cpu"],
        ["draw", "smp:fpn", "-o", str(tmp_path / "x.svg")],
    ):
        assert main(args) == 2
        assert "hand-designed baseline, not a searched design" in capsys.readouterr().err


def _export(model: Path, out: Path, fmt: str) -> dict:
    args = ["export", str(model), "--format", fmt, "-o", str(out), "--size", "64"]
    assert main([*args, "--latency-runs", "0", "--device", "cpu"]) == 0
    return json.loads(out.with_name(out.name + ".card.json").read_text())


def _check_card(card: dict, net: BaselineNet, fmt: str) -> None:
    assert card["genotype"] == "smp:unet" and card["decoder"]["smp_class"] == "Unet"
    assert card["params"] == sum(p.numel() for p in net.parameters()) and card["params_in_file"]
    assert card["madds"] == count_madds(net.for_inference(), torch.zeros(1, 3, 64, 64))
    assert card["output_stride"] == 1 and card["metrics"]["miou"] is not None
    assert list(card["export"]["parity_max_abs_error"]) == ["1x3x64x64", "2x3x48x80"]
    assert card["export"]["format"] == fmt


def test_export_torchscript_matches_pytorch_at_any_size(trained, tmp_path) -> None:
    out = tmp_path / "unet.ts"
    card = _export(trained / "model.pt", out, "torchscript")
    net, _ = load_model(trained / "model.pt")
    _check_card(card, net, "torchscript")
    assert "hand-designed baseline `smp:unet`" in out.with_name("unet.ts.card.md").read_text()
    x = torch.randn(1, 3, 40, 88)
    with torch.no_grad():
        expected = ExportNet(net)(x)
    assert (load_runner(out, "torchscript")(x) - expected).abs().max() <= 1e-4 * max(
        1.0, float(expected.abs().max())
    )


@pytest.mark.slow  # the torch.export-based ONNX exporter: 30-90 s here
def test_export_onnx_matches_pytorch_at_any_size(trained, tmp_path) -> None:
    out = tmp_path / "unet.onnx"
    card = _export(trained / "model.pt", out, "onnx")
    net, _ = load_model(trained / "model.pt")
    _check_card(card, net, "onnx")
    x = torch.randn(1, 3, 40, 88)
    with torch.no_grad():
        expected = ExportNet(net)(x)
    got = load_runner(out, "onnx")(x)
    assert got.shape == (1, 9, 40, 88)
    assert (got - expected).abs().max() <= 1e-4 * max(1.0, float(expected.abs().max()))


@needs_smp
def test_bench_compare_lists_the_baselines_beside_torchvision(capsys) -> None:
    bench = ["--size", "64", "--runs", "2", "--warmup", "0", "--json", "--device", "cpu"]
    assert main(["bench", "smp:fpn", "--classes", "5", "--compare", *bench]) == 0
    results = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in results]
    assert names == ["smp:fpn", REFERENCE, "deeplabv3_mobilenet_v3_large", "smp:unet"] + [
        "smp:deeplabv3plus"
    ]
    assert all(r["output_size"] == [64, 64] for r in results)
    fpn = build_baseline("smp:fpn", 5, weights=None)
    assert results[0]["params"] == sum(p.numel() for p in fpn.parameters())
