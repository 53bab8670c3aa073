"""`segnas eval`: metrics against hand-counted pixels, test-time augmentation, refusals, CLI."""

from __future__ import annotations

import json
import math
import os
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from segnas.cli import main
from segnas.data import EvalTransform, Sample, SegmentationSource
from segnas.data.classes import make_palette
from segnas.final.eval import EvalSettings, evaluate, load_checked, predict_probabilities
from segnas.genotype import resolve
from segnas.settings_io import SettingsError, apply_overrides, load_yaml
from segnas.train.losses import upsample_to
from tests.fixtures.models import RedClassifier

TINY_DATA = "builtin:size=32,train=16,val=8"

# Three images, three classes. The red channel says what `RedClassifier` predicts (100 * class).
PREDICTED = [
    np.array([[0, 0, 1], [1, 2, 2]]),
    np.array([[0, 0, 0], [2, 2, 2]]),
    np.array([[1, 1], [0, 0], [2, 0]]),
]
LABELS = [
    np.array([[0, 1, 1], [1, 2, 255]]),
    np.array([[0, 0, 0], [2, 1, 2]]),
    np.array([[1, 1], [0, 0], [2, 2]]),
]
# Counted by hand from the pairs above: rows = label, columns = prediction; the 255 is skipped.
EXPECTED_CM = [[6, 0, 0], [1, 4, 1], [1, 0, 4]]


class ArraySource(SegmentationSource):
    """Samples from in-memory arrays."""

    name = "arrays"
    split = "val"

    def __init__(self, reds: list[np.ndarray], masks: list[np.ndarray], num_classes: int) -> None:
        self.images = [
            np.stack([100 * r, np.full_like(r, 7), np.full_like(r, 200)], -1).astype(np.uint8)
            for r in reds
        ]
        self.masks = [m.astype(np.uint8) for m in masks]
        self.ids = [f"s{i}" for i in range(len(reds))]
        self.num_classes = num_classes
        self.class_names = [f"c{k}" for k in range(num_classes)]
        self.palette = make_palette(num_classes)

    def __getitem__(self, i: int) -> Sample:
        return Sample(self.ids[i], self.images[i], self.masks[i])

    def describe(self) -> dict:
        return {"format": "arrays", "count": len(self.ids)}


class LeftRight(nn.Module):
    """Class 0 on the left, class 1 on the right, with a ramp: not flip-equivariant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-2, 3, x.shape[-1]).expand(x.shape[0], x.shape[-2], -1)
        return torch.stack([-ramp, ramp], 1)  # (B, 2, H, W)


def test_metrics_match_a_hand_counted_confusion_matrix():
    source = ArraySource(PREDICTED, LABELS, 3)
    net = RedClassifier(3)
    report = evaluate(net, source, EvalSettings(batch_size=2), torch.device("cpu"))
    assert report.confusion.tolist() == EXPECTED_CM
    assert [shape[0] for shape in net.calls] == [2, 1]  # the two 2x3 images together, then 3x2
    iou = [6 / 8, 4 / 6, 4 / 6]
    assert report.metrics.per_class_iou == pytest.approx(iou)
    assert report.metrics.mean_iou == pytest.approx(sum(iou) / 3)
    assert report.metrics.fw_iou == pytest.approx((6 * iou[0] + 6 * iou[1] + 5 * iou[2]) / 17)
    assert report.metrics.pixel_accuracy == pytest.approx(14 / 17)
    assert report.metrics.mean_accuracy == pytest.approx((6 / 6 + 4 / 6 + 4 / 5) / 3)
    assert report.per_class_accuracy == pytest.approx([1, 4 / 6, 4 / 5])
    assert report.class_pixels == [6, 6, 5] and report.images == 3
    one_by_one = evaluate(RedClassifier(3), source, EvalSettings(batch_size=1), "cpu")
    assert one_by_one.confusion.tolist() == EXPECTED_CM


def test_absent_class_is_left_out_of_the_means_and_null_in_json():
    source = ArraySource(PREDICTED, LABELS, 4)  # class 3 never labelled nor predicted
    report = evaluate(RedClassifier(4), source, EvalSettings(), "cpu")
    assert math.isnan(report.metrics.per_class_iou[3])
    assert report.metrics.mean_iou == pytest.approx((6 / 8 + 4 / 6 + 4 / 6) / 3)
    figures = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert figures["per_class_iou"][3] is None and figures["class_pixels"] == [6, 6, 5, 0]


def test_flip_leaves_a_flip_equivariant_model_unchanged():
    source = ArraySource(PREDICTED, LABELS, 3)
    net = RedClassifier(3)
    flipped = evaluate(net, source, EvalSettings(flip=True, batch_size=1), "cpu")
    assert flipped.confusion.tolist() == EXPECTED_CM
    assert len(net.calls) == 2 * len(PREDICTED)  # each image seen as is and mirrored


def test_flip_averages_the_mirrored_prediction():
    x = torch.zeros(2, 3, 4, 6)
    plain = predict_probabilities(LeftRight(), x)
    both = predict_probabilities(LeftRight(), x, flip=True)
    assert torch.allclose(both, (plain + plain.flip(-1)) / 2)
    assert torch.allclose(both, both.flip(-1)) and not torch.allclose(plain, plain.flip(-1))


def images_of(source: SegmentationSource) -> torch.Tensor:
    return torch.stack([EvalTransform()(sample)[0] for sample in source])  # (N, 3, H, W)


def test_multi_scale_averages_softmax_over_scales(model_file: Path, tiny_val):
    net, _ = load_checked(model_file, torch.device("cpu"))
    x = images_of(tiny_val)[:4]
    single = predict_probabilities(net, x)
    with torch.no_grad():
        expected = upsample_to(net(x), x.shape[-2:]).softmax(1)
    assert single.shape == (4, 9, 32, 32) and torch.allclose(single, expected, atol=1e-6)
    half = predict_probabilities(net, x, (0.5,))
    both = predict_probabilities(net, x, (0.5, 1.0))
    assert torch.allclose(both, (half + single) / 2, atol=1e-6)
    assert (half - single).abs().max() > 1e-2  # the scale really changed the input
    assert torch.allclose(both.sum(1), torch.ones(4, 32, 32), atol=1e-5)


def test_scales_and_flip_change_figures_on_a_real_model_within_bounds(model_file, tiny_val):
    net, _ = load_checked(model_file, torch.device("cpu"), tiny_val.num_classes)
    plain = evaluate(net, tiny_val, EvalSettings(batch_size=8), "cpu")
    tta = evaluate(net, tiny_val, EvalSettings((0.5, 1.5), flip=True, batch_size=8), "cpu")
    assert not torch.equal(plain.confusion, tta.confusion)
    assert int(plain.confusion.sum()) == int(tta.confusion.sum())  # same labelled pixels
    for report in (plain, tta):
        m = report.metrics
        for value in (m.mean_iou, m.fw_iou, m.pixel_accuracy, m.mean_accuracy):
            assert 0.0 <= value <= 1.0


def test_settings_refuse_bad_scales():
    with pytest.raises(ValueError, match=r"scales\[1\]: got 0"):
        EvalSettings(scales=(1.0, 0.0))
    with pytest.raises(ValueError, match="at least one scale"):
        EvalSettings(scales=())


# --- the command ------------------------------------------------------------------------------


def test_eval_command_prints_per_class_table(model_file: Path, segnas_cache, capsys):
    assert main(["eval", str(model_file), "--data", TINY_DATA, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "triangle" in out and "mean IoU" in out and "frequency-weighted IoU" in out


def test_eval_command_json_and_output_file(model_file, segnas_cache, tmp_path, capsys):
    out_file = tmp_path / "res" / "metrics.json"
    argv = ["eval", str(model_file), "--data", TINY_DATA, "--json", "--device", "cpu"]
    assert main([*argv, "--scales", "0.5,1", "--flip", "-o", str(out_file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(out_file.read_text()) == printed
    assert printed["images"] == 8 and printed["split"] == "val"
    assert len(printed["per_class_iou"]) == 9 and printed["class_names"][4] == "wire"
    assert sum(map(sum, printed["confusion"])) == sum(printed["class_pixels"]) > 0
    assert 0 <= printed["mean_iou"] <= 1
    settings = load_yaml(EvalSettings, out_file.with_suffix(".settings.yaml"))
    assert settings == EvalSettings(scales=(0.5, 1.0), flip=True)


def test_eval_command_rejects_bad_scales(model_file, segnas_cache, capsys):
    with pytest.raises(SystemExit):
        main(["eval", str(model_file), "--data", TINY_DATA, "--scales", "1,x"])
    assert "item 1 ('x') is not a number" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="scales"):
        apply_overrides(EvalSettings(), ["scales=[]"])


def test_class_count_mismatch_is_refused(model_factory, segnas_cache, capsys):
    five = model_factory("five.pt", num_classes=5, calibrate=False)
    assert main(["eval", str(five), "--data", TINY_DATA, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "predicts 5 classes" in err and "has 9" in err and str(five) in err


class _Mkdir:
    """Pickles as a call to os.mkdir: loading the file without weights_only runs it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def _truncated(model_file: Path, tmp_path: Path) -> tuple[Path, str]:
    bad = tmp_path / "truncated.pt"
    data = model_file.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    return bad, "not a loadable segnas model file"


def _carrying_code(model_file: Path, tmp_path: Path) -> tuple[Path, str]:
    bad = tmp_path / "evil.pt"
    payload = torch.load(model_file, weights_only=True)
    payload["state_dict"]["hook"] = _Mkdir(tmp_path / "pwned")
    torch.save(payload, bad)
    return bad, "not a loadable segnas model file"


def _other_genotype(model_file: Path, tmp_path: Path) -> tuple[Path, str]:
    bad = tmp_path / "other.pt"
    payload = torch.load(model_file, weights_only=True)
    payload["meta"]["genotype"] = str(resolve("arch1"))
    torch.save(payload, bad)
    return bad, "does not match SegmentationNet"


@pytest.mark.parametrize("make_bad", [_truncated, _carrying_code, _other_genotype])
def test_bad_model_files_are_refused_before_any_work(
    make_bad, model_file, segnas_cache, tmp_path, capsys, monkeypatch
):
    bad, reason = make_bad(model_file, tmp_path)

    def must_not_run(*args, **kwargs):
        raise AssertionError("evaluation started on a bad model file")

    monkeypatch.setattr("segnas.cli.eval.evaluate", must_not_run)
    out_file = tmp_path / "metrics.json"
    argv = ["eval", str(bad), "--data", TINY_DATA, "-o", str(out_file), "--device", "cpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and reason in err
    assert not out_file.exists()
    assert not (tmp_path / "pwned").exists()


def test_code_carrying_file_really_calls_code_when_unpickled(model_file, tmp_path):
    """The refusal above means something: the file's pickle calls os.mkdir on the way in
    (read as opcodes, never run: a full unpickle would make the folder)."""
    bad, _ = _carrying_code(model_file, tmp_path)
    with zipfile.ZipFile(bad) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(archive.read(name))]
    names = [arg for _, arg in ops if isinstance(arg, str)]
    assert any(n.endswith("mkdir") for n in names) and str(tmp_path / "pwned") in names
    assert ("REDUCE", None) in ops
    assert not (tmp_path / "pwned").exists()
