"""Full training: the stage schedule, frozen batch norm, exact resume, the model file, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from rich.console import Console

import segnas.final.train as final_train
from segnas.cli import main
from segnas.data import open_dataset
from segnas.final.arch_ref import resolve_arch
from segnas.final.recipe import FinalTrainSettings, lr_scale, plan_epochs
from segnas.final.train import BATCH_NORMS, evaluate, read_checkpoint, train_final
from segnas.run_dir import ResumeError
from segnas.settings_io import load_yaml, to_dict
from segnas.space.builder import DecoderSettings, build_network
from segnas.space.model_file import ModelFileError, load_model
from segnas.tasks import make_task

SPEC = "builtin:size=32,train=16,val=8"
SPLITS = ("train", "val")
TINY = FinalTrainSettings(
    decoder=DecoderSettings(16, 1, "cell"),
    batch_size=8,
    crop_size=32,
    val_crop_size=32,
    val_batch_size=8,
)
"""The recipe's schedule (4 stages x 2 epochs) on 16 images: 2 steps per epoch."""


class Interrupted(Exception):
    """Stands in for a killed process between two epochs."""


@pytest.fixture(scope="module")
def sources(builtin_cache: Path):
    """(train, val) of SPEC, generated once into the session cache of tests/final/conftest.py."""
    return tuple(open_dataset(SPEC, split=s, cache_dir=builtin_cache / "builtin") for s in SPLITS)


def _train(sources, run_dir: Path, settings=TINY, arch="arch1", **kw):
    train, val = sources
    return train_final(
        resolve_arch(arch),
        train,
        val,
        settings,
        run_dir,
        torch.device("cpu"),
        dataset=SPEC,
        encoder_weights="none",
        console=Console(quiet=True),
        **kw,
    )


def _bn_stats(state: dict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}


def test_plan_has_one_stage_per_aux_weight_halving_lr_and_freezing_halfway() -> None:
    plans = plan_epochs(FinalTrainSettings(epochs_per_stage=3))
    assert [p.stage for p in plans] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert [p.aux_weight for p in plans] == [0.3] * 3 + [0.25] * 3 + [0.2] * 3 + [0.15] * 3
    assert [p.lr_scale for p in plans] == [1] * 3 + [0.5] * 3 + [0.25] * 3 + [0.125, 0.0625, 0.0625]
    assert [p.bn_frozen for p in plans] == [False] * 10 + [True] * 2
    unfrozen = plan_epochs(FinalTrainSettings(epochs_per_stage=3, freeze_bn=False))
    assert not any(p.bn_frozen for p in unfrozen) and unfrozen[-1].lr_scale == 0.125


def test_poly_decays_within_each_stage_and_restarts_at_the_stage_rate() -> None:
    settings = FinalTrainSettings(aux_weights=(0.3, 0.2), epochs_per_stage=2, poly_power=1.0)
    scales = [lr_scale(settings, step, steps_per_epoch=5) for step in range(20)]
    assert scales[:10] == pytest.approx([1 - k / 10 for k in range(10)])
    # stage 2: half the rate; frozen from its second epoch (step 15): halved once more
    assert scales[10:15] == pytest.approx([0.5 * (1 - k / 10) for k in range(5)])
    assert scales[15:] == pytest.approx([0.25 * (1 - k / 10) for k in range(5, 10)])


def test_training_follows_the_schedule_and_freezes_batch_norm(sources, tmp_path, monkeypatch):
    calls = []
    real_train_steps = final_train.train_steps

    def spy(model, inputs, targets, optimizers, batches, **kw):
        calls.append((kw["aux_weight"], [opt.param_groups[0]["lr"] for opt in optimizers]))
        return real_train_steps(model, inputs, targets, optimizers, batches, **kw)

    monkeypatch.setattr(final_train, "train_steps", spy)
    states = []
    run = _train(
        sources,
        tmp_path / "run",
        on_epoch=lambda record: states.append(read_checkpoint(tmp_path / "run" / "checkpoint.pt")),
    )
    scales = [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.0625]
    expected = [
        (w, [1e-3 * s, 3e-3 * s])
        for w, s in zip([0.3, 0.3, 0.25, 0.25, 0.2, 0.2, 0.15, 0.15], scales)
    ]
    assert calls == [step for step in expected for _ in range(2)]  # two steps per epoch
    assert [r["encoder_lr"] for r in run.history] == pytest.approx([1e-3 * s for s in scales])
    assert [r["bn_frozen"] for r in run.history] == [False] * 7 + [True]
    assert [s["epoch"] for s in states] == list(range(1, 9))
    stats = [_bn_stats(s["model"]) for s in states]
    assert len(stats[0]) > 50
    for key in stats[0]:
        assert not torch.equal(stats[5][key], stats[6][key]), key  # epoch 7 still updates
        assert torch.equal(stats[6][key], stats[7][key]), key  # epoch 8 frozen: unchanged
    weights = [k.replace("running_mean", "weight") for k in stats[0] if "running_mean" in k]
    changed = {k: not torch.equal(states[6]["model"][k], states[7]["model"][k]) for k in weights}
    # Affine parameters still train while the statistics are frozen (Adam's steps in the decoder
    # always show; the encoder's SGD steps at 1/16 of the rate may round away on some weights).
    assert all(v for k, v in changed.items() if k.startswith("decoder.")), changed
    assert any(v for k, v in changed.items() if k.startswith("encoder.")), changed


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(sources, tmp_path):
    settings = dataclasses.replace(TINY, aux_weights=(0.3, 0.15), poly_power=0.9)
    whole = _train(sources, tmp_path / "whole", settings)

    def stop_after_two(record: dict) -> None:
        if record["epoch"] == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        _train(sources, tmp_path / "cut", settings, on_epoch=stop_after_two)
    assert read_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 2
    resumed = _train(sources, tmp_path / "cut", settings, resume=True)
    a = read_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    b = read_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert a["model"].keys() == b["model"].keys()
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["optimizers"][1]["state"][0]["exp_avg"].equal(
        b["optimizers"][1]["state"][0]["exp_avg"]
    )
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]
    assert resumed.metrics == whole.metrics and len(resumed.history) == 4


@pytest.fixture(scope="module")
def one_epoch_run(sources, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("final") / "run"
    _train(sources, run_dir, dataclasses.replace(TINY, aux_weights=(0.3,), epochs_per_stage=1))
    return run_dir


def test_resume_with_other_inputs_is_refused(sources, one_epoch_run: Path, builtin_cache) -> None:
    settings = dataclasses.replace(TINY, aux_weights=(0.3,), epochs_per_stage=1)
    with pytest.raises(ResumeError, match=r"genotype: run has '\[\[\[2, 3\]"):
        _train(sources, one_epoch_run, settings, arch="arch0", resume=True)
    with pytest.raises(ResumeError, match="settings.epochs_per_stage: run has 1, now 2"):
        _train(
            sources, one_epoch_run, dataclasses.replace(settings, epochs_per_stage=2), resume=True
        )
    other_val = open_dataset(SPEC.replace("val=8", "val=4"), cache_dir=builtin_cache / "builtin")
    with pytest.raises(ResumeError, match="val_data"):
        train_final(
            resolve_arch("arch1"),
            sources[0],
            other_val,
            settings,
            one_epoch_run,
            torch.device("cpu"),
            dataset=SPEC,
            encoder_weights="none",
            resume=True,
            console=Console(quiet=True),
        )
    with pytest.raises(FileExistsError, match="already holds a training run"):
        _train(sources, one_epoch_run, settings)


def test_truncated_foreign_and_missing_checkpoints_give_clear_errors(one_epoch_run, tmp_path):
    data = (one_epoch_run / "checkpoint.pt").read_bytes()
    (tmp_path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a loadable training checkpoint"):
        read_checkpoint(tmp_path / "checkpoint.pt")
    (tmp_path / "checkpoint.pt").write_bytes((one_epoch_run / "model.pt").read_bytes())
    with pytest.raises(ModelFileError, match="format 'segnas-model/1', expected 'segnas-final"):
        read_checkpoint(tmp_path / "checkpoint.pt")
    torch.save({"format": final_train.CHECKPOINT_FORMAT, "code": Interrupted}, tmp_path / "x.pt")
    with pytest.raises(ModelFileError, match="not a loadable training checkpoint"):
        read_checkpoint(tmp_path / "x.pt")  # weights_only refuses the class
    with pytest.raises(FileNotFoundError, match="no training checkpoint to resume from"):
        read_checkpoint(tmp_path / "none.pt")


def test_model_file_rebuilds_the_trained_network(sources, one_epoch_run: Path) -> None:
    net, meta = load_model(one_epoch_run / "model.pt")
    train, val = sources
    state = read_checkpoint(one_epoch_run / "checkpoint.pt")
    trained = build_network(resolve_arch("arch1").genotype, 9, DecoderSettings(16, 1), weights=None)
    trained.load_state_dict(state["model"])
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(net.eval()(x), trained.for_inference()(x))
    assert meta.aux_mode == "none" and not any("aux_heads" in k for k in net.state_dict())
    assert meta.class_names == train.class_names and meta.info["palette"] == train.palette.tolist()
    info = meta.info
    settings = dataclasses.replace(TINY, aux_weights=(0.3,), epochs_per_stage=1)
    assert info["train_config"] == to_dict(settings)
    assert (info["dataset"], info["epochs"], info["arch"]) == (SPEC, 1, "arch1")
    assert set(info["metrics"]) == {"miou", "fwiou", "pixel_acc", "mean_acc", "per_class_iou"}
    assert list(info["metrics"]["per_class_iou"]) == train.class_names
    task = make_task("segmentation", val.num_classes, val.background_index)
    again = evaluate(net, val, settings, torch.device("cpu"), task)
    assert again["miou"] == pytest.approx(info["metrics"]["miou"])
    assert again["pixel_acc"] == pytest.approx(info["metrics"]["pixel_acc"])
    assert sum(isinstance(m, BATCH_NORMS) for m in net.modules()) > 10


def test_cli_trains_resumes_and_refuses(tmp_path: Path, segnas_cache: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    args = ["train", "arch0", "--data", SPEC, "--encoder-weights", "none", "--device", "cpu"]
    sets = [
        *("--set", "crop_size=32", "--set", "val_crop_size=32", "--set", "batch_size=8"),
        *("--set", "aux_weights=[0.3, 0.15]", "--set", "epochs_per_stage=1"),
    ]
    assert main([*args, "--run-dir", str(run_dir), *sets]) == 0
    out = capsys.readouterr().out
    assert "validation after epoch 2/2" in out and "IoU triangle" in out and "fwIoU" in out
    assert str(run_dir / "model.pt") in out.replace("\n", "")
    settings = load_yaml(FinalTrainSettings, run_dir / "config.yaml")
    assert settings.aux_weights == (0.3, 0.15)
    assert settings.decoder == DecoderSettings(64, 2, "cell")
    history = json.loads((run_dir / "history.json").read_text())
    assert history["arch"] == "arch0" and [r["stage"] for r in history["epochs"]] == [1, 2]
    assert [r["bn_frozen"] for r in history["epochs"]] == [False, True]
    _, meta = load_model(run_dir / "model.pt")
    assert meta.channels == 64 and meta.info["metrics"]["miou"] == history["epochs"][-1]["miou"]

    assert main([*args, "--run-dir", str(run_dir), "--resume"]) == 0  # finished: nothing to do
    assert "after epoch 2/2" in capsys.readouterr().out
    assert main([*args, "--run-dir", str(run_dir), "--resume", "--set", "crop_size=48"]) == 2
    assert "settings.crop_size: run has 32, now 48" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 2
    assert "--resume needs --run-dir" in capsys.readouterr().err
    assert main(["train", "arch0", "--data", SPEC, "--set", "batch_size=1"]) == 2
    assert "batch_size: got 1" in capsys.readouterr().err


@pytest.mark.slow
def test_pretrained_encoder_beats_random_init(tmp_path: Path) -> None:
    cache = tmp_path / "builtin"
    spec = "builtin:size=64,train=128,val=32"
    train = open_dataset(spec, cache_dir=cache)
    val = open_dataset(spec, split="val", cache_dir=cache)
    settings = FinalTrainSettings(aux_weights=(0.3, 0.15), epochs_per_stage=2, batch_size=16)
    figures = {}
    for weights in ("imagenet", "none"):
        run = train_final(
            resolve_arch("arch1"),
            train,
            val,
            settings,
            tmp_path / weights,
            torch.device("cpu"),
            dataset=spec,
            encoder_weights=weights,
            console=Console(quiet=True),
        )
        figures[weights] = run.metrics["miou"]
    assert figures["imagenet"] > figures["none"] + 0.05, figures


def test_unequal_stages_set_the_schedule() -> None:
    """`stage_epochs` (the pose recipe's 9, 3, 2): stage boundaries, a tenth per stage, poly
    restarting at each stage, no freeze; bad entries are refused by name."""
    from segnas.final.recipe import pose_recipe

    settings = pose_recipe()
    plans = plan_epochs(settings)
    assert settings.epochs == 14 and [p.stage for p in plans] == [0] * 9 + [1] * 3 + [2] * 2
    assert [p.lr_scale for p in plans][8:11] == pytest.approx([1.0, 0.1, 0.1])
    assert plans[-1].lr_scale == pytest.approx(0.01) and not any(p.bn_frozen for p in plans)
    poly = dataclasses.replace(settings, poly_power=1.0)
    assert lr_scale(poly, 9 * 10, 10) == pytest.approx(0.1)  # the second stage starts afresh
    assert lr_scale(poly, 9 * 10 + 15, 10) == pytest.approx(0.1 * 0.5)  # halfway through it
    frozen = dataclasses.replace(settings, freeze_bn=True)
    assert frozen.freeze_epoch == 12 + 1
    with pytest.raises(ValueError, match="stage_epochs"):
        dataclasses.replace(settings, stage_epochs=(9, 3))
    with pytest.raises(ValueError, match=r"stage_epochs\[1\]"):
        dataclasses.replace(settings, stage_epochs=(9, 0, 2))


def test_cropped_validation_is_warned_for_dense_tasks_only() -> None:
    from segnas.final.train import _warn_cropped_validation

    said: list[str] = []
    val = open_dataset("builtin:seed=0,size=64,train=4,val=2", split="val")
    dense = make_task("segmentation", val.num_classes, 0)
    _warn_cropped_validation(val, FinalTrainSettings(val_crop_size=32), dense, said.append)
    assert len(said) == 1 and "central 32x32 crops of 64x64 images" in said[0]
    _warn_cropped_validation(val, FinalTrainSettings(val_crop_size=64), dense, said.append)
    _warn_cropped_validation(val, FinalTrainSettings(val_crop_size=None), dense, said.append)
    pose = make_task("pose", options={"num_keypoints": 8})
    _warn_cropped_validation(val, FinalTrainSettings(val_crop_size=32), pose, said.append)
    assert len(said) == 1
