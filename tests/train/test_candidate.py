"""evaluate_candidate: real training raises the reward; failures stay inside their candidate."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segnas.genotype import ARCH0, ARCH1
from segnas.space.builder import DecoderSettings, build_decoder
from segnas.train import candidate as candidate_module
from segnas.train import stages
from segnas.train.candidate import evaluate_candidate
from segnas.train.stages import feature_inputs, statistics_on
from tests.fixtures.candidate_settings import SMALL


def untrained_reward(data) -> float:
    torch.manual_seed(0)
    decoder = build_decoder(ARCH0, data.encoder, data.num_classes, DecoderSettings(48, 1, "cell"))
    cm = statistics_on(
        decoder, feature_inputs(data.val_taps, data.device), data.val_masks, data.task, 64
    )
    return data.task.reward(cm)


def test_training_raises_the_reward_well_above_an_untrained_decoder(small_data) -> None:
    settings = dataclasses.replace(
        SMALL, stage1=dataclasses.replace(SMALL.stage1, epochs=5, batch_size=16)
    )
    result = evaluate_candidate(ARCH0, settings, small_data, seed=0)
    assert result.status == "done", result.failure
    baseline = untrained_reward(small_data)
    assert result.stage1_reward > max(3 * baseline, baseline + 0.05)
    assert result.stage2_reward > max(3 * baseline, baseline + 0.05)
    assert result.reward == result.stage2_reward
    assert set(result.seconds) == {"build", "stage1", "val1", "stage2", "val2"}
    assert result.params > 1_811_712 and result.madds > 0
    assert 0 < result.stage2_metrics["mean_iou"] <= 1


def test_same_genotype_and_seed_give_the_same_result(small_data) -> None:
    settings = dataclasses.replace(SMALL, stage1=dataclasses.replace(SMALL.stage1, epochs=1))
    a = evaluate_candidate(ARCH1, settings, small_data, seed=0, should_continue=lambda r: False)
    b = evaluate_candidate(ARCH1, settings, small_data, seed=0, should_continue=lambda r: False)
    assert a.status == b.status == "stopped"
    assert a.stage1_reward == b.stage1_reward and a.stage2_reward is None


def test_early_termination_sees_the_stage1_reward(small_data) -> None:
    seen = []
    settings = dataclasses.replace(SMALL, stage1=dataclasses.replace(SMALL.stage1, epochs=1))
    result = evaluate_candidate(
        ARCH1, settings, small_data, seed=0, should_continue=lambda r: seen.append(r) or False
    )
    assert seen == [result.stage1_reward] and result.reward == result.stage1_reward
    assert "stage2" not in result.seconds


def test_nan_loss_fails_the_candidate(small_data, monkeypatch) -> None:
    def nan_loss(*args, **kwargs):
        return torch.tensor(float("nan"), requires_grad=True)

    monkeypatch.setattr(stages, "total_loss", nan_loss)
    result = evaluate_candidate(ARCH1, SMALL, small_data, seed=0)
    assert result.status == "failed" and result.reward == 0.0
    assert result.failure.startswith("NonFiniteLossError: stage 1: loss is nan at step 0")
    assert "train_steps" in result.traceback


def test_exception_while_building_fails_the_candidate(small_data, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise KeyError("no such op")

    monkeypatch.setattr(candidate_module, "build_decoder", broken)
    result = evaluate_candidate(ARCH1, SMALL, small_data, seed=0)
    assert result.status == "failed"
    assert result.failure == "KeyError: 'no such op'"


def test_out_of_memory_fails_the_candidate_and_the_next_one_runs(small_data, monkeypatch) -> None:
    calls = {"n": 0}
    original = stages.statistics_on

    def oom_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(*args, **kwargs)

    monkeypatch.setattr(candidate_module, "statistics_on", oom_once)
    settings = dataclasses.replace(SMALL, stage1=dataclasses.replace(SMALL.stage1, epochs=1))
    failed = evaluate_candidate(ARCH1, settings, small_data, seed=0)
    assert failed.status == "failed" and failed.failure.startswith("out of memory:")
    ok = evaluate_candidate(ARCH1, settings, small_data, seed=0, should_continue=lambda r: False)
    assert ok.status == "stopped" and ok.stage1_reward > 0


@pytest.mark.parametrize("switch", ["polyak", "distill"])
def test_ablation_switches_change_training(switch, small_data) -> None:
    # A stand-in teacher so that distillation has something to pull towards.
    torch.manual_seed(0)
    n, k, quarter = len(small_data.train_masks), small_data.num_classes, SMALL.crop_size // 4
    data = dataclasses.replace(small_data, teacher_logits=5 * torch.randn(n, k, quarter, quarter))
    one_epoch = dataclasses.replace(SMALL.stage1, epochs=1)
    results = [
        evaluate_candidate(
            ARCH1,
            dataclasses.replace(SMALL, **{switch: on}, stage1=one_epoch),
            data,
            seed=0,
            should_continue=lambda r: False,
        )
        for on in (True, False)
    ]
    assert [r.status for r in results] == ["stopped", "stopped"]
    with_it, without = results
    if switch == "distill":  # the MSE term is part of the reported loss only when on
        assert with_it.stage1_loss > without.stage1_loss
    else:  # validation sees the averaged weights only when on
        assert with_it.stage1_reward != without.stage1_reward


def test_the_seed_argument_fixes_initialisation_and_batch_order(small_data) -> None:
    settings = dataclasses.replace(SMALL, stage1=dataclasses.replace(SMALL.stage1, epochs=1))
    runs = [
        evaluate_candidate(ARCH1, settings, small_data, seed=seed, should_continue=lambda r: False)
        for seed in (0, 1, 1)
    ]
    zero, one, again = runs
    assert (one.stage1_loss, one.stage1_reward) == (again.stage1_loss, again.stage1_reward)
    assert zero.stage1_loss != one.stage1_loss
