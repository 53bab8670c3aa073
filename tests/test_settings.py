"""Every settings class checks itself on every path, and each error names its field.

Construction, `dataclasses.replace`, config files, `--set` and nested blocks all reach the same
`__post_init__`; through `from_dict` the message starts with the field's full dotted path.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from segnas.data.builtin.settings import BuiltinSettings
from segnas.final.eval import EvalSettings
from segnas.final.export import ExportSettings
from segnas.final.predict import PredictSettings
from segnas.final.recipe import FinalTrainSettings
from segnas.search.controller import ControllerSettings
from segnas.search.early_stop import TerminationSettings
from segnas.search.evolution import EvolutionSettings
from segnas.search.settings import SearchSettings
from segnas.search.strategies import PPOSettings
from segnas.settings_io import (
    FieldError,
    SettingsError,
    apply_overrides,
    from_dict,
    load_layers,
    to_dict,
    to_yaml,
)
from segnas.space.builder import DecoderSettings
from segnas.train.fit import FitSettings
from segnas.train.settings import CandidateSettings, Stage1Settings, Stage2Settings
from segnas.train.teacher import TeacherSettings

BAD_VALUES = [
    (DecoderSettings, {"channels": 0}, "channels: got 0, expected >= 1"),
    (DecoderSettings, {"repeats": 0}, "repeats: got 0, expected >= 1"),
    (DecoderSettings, {"aux_mode": "deep"}, "aux_mode: got 'deep', expected one of"),
    (Stage1Settings, {"epochs": 0}, "epochs: got 0, expected >= 1"),
    (Stage1Settings, {"batch_size": 1}, "batch_size: got 1, expected >= 2"),
    (Stage1Settings, {"lr": 0.0}, "lr: got 0.0, expected > 0"),
    (Stage1Settings, {"polyak_decay": 1.0}, "polyak_decay: got 1.0, expected in [0, 1)"),
    (Stage1Settings, {"distill_weight": -1.0}, "distill_weight: got -1.0, expected >= 0"),
    (Stage2Settings, {"epochs": 0}, "epochs: got 0, expected >= 1"),
    (Stage2Settings, {"batch_size": 1}, "batch_size: got 1, expected >= 2"),
    (Stage2Settings, {"decoder_lr": -1.0}, "decoder_lr: got -1.0, expected > 0"),
    (Stage2Settings, {"encoder_momentum": 1.0}, "encoder_momentum: got 1.0, expected in [0, 1)"),
    (CandidateSettings, {"crop_size": 16}, "crop_size: got 16, expected >= 32"),
    (CandidateSettings, {"grad_clip": 0.0}, "grad_clip: got 0.0, expected > 0"),
    (CandidateSettings, {"aux_weight": -0.1}, "aux_weight: got -0.1, expected >= 0"),
    (CandidateSettings, {"val_batch_size": 0}, "val_batch_size: got 0, expected >= 1"),
    (SearchSettings, {"budget": -1}, "budget: got -1, expected >= 1"),
    (SearchSettings, {"generation": 0}, "generation: got 0, expected >= 1"),
    (SearchSettings, {"val_fraction": 1.0}, "val_fraction: got 1.0, expected in (0, 1)"),
    (SearchSettings, {"train_count": 0}, "train_count: got 0, expected >= 1 or None"),
    (SearchSettings, {"rescore_top": -1}, "rescore_top: got -1, expected >= 0"),
    (SearchSettings, {"rescore_seeds": 0}, "rescore_seeds: got 0, expected >= 1"),
    (SearchSettings, {"max_consecutive_failures": 0}, "max_consecutive_failures: got 0"),
    (TerminationSettings, {"p_start": 1.5}, "p_start: got 1.5, expected a probability"),
    (
        TerminationSettings,
        {"schedule": "exponential", "p_end": 0.0},
        "p_end: got 0.0, expected > 0 (the exponential schedule",
    ),
    (TerminationSettings, {"anneal_over": 0}, "anneal_over: got 0, expected >= 1 or None"),
    (EvolutionSettings, {"population": 1}, "population: got 1, expected >= 2"),
    (EvolutionSettings, {"sample_size": 17}, "sample_size: got 17, expected in [1, 16]"),
    (PPOSettings, {"clip": 1.5}, "clip: got 1.5, expected in (0, 1)"),
    (PPOSettings, {"update_every": 0}, "update_every: got 0, expected >= 1"),
    (PPOSettings, {"max_grad_norm": 0.0}, "max_grad_norm: got 0.0, expected > 0 or None"),
    (ControllerSettings, {"hidden": 0}, "hidden: got 0, expected >= 1"),
    (ControllerSettings, {"temperature": 0.0}, "temperature: got 0.0, expected > 0 or None"),
    (FitSettings, {"epochs": 0}, "epochs: got 0, expected >= 1"),
    (FitSettings, {"batch_size": 1}, "batch_size: got 1, expected >= 2"),
    (FitSettings, {"workers": -1}, "workers: got -1, expected >= 0"),
    (TeacherSettings, {"channels": 0}, "channels: got 0, expected >= 1"),
    (TeacherSettings, {"design": "arch9"}, "design: got 'arch9', expected a known design"),
    (FinalTrainSettings, {"aux_weights": ()}, "aux_weights: got (), expected one entry"),
    (FinalTrainSettings, {"aux_weights": (0.3, -1.0)}, "aux_weights[1]: got -1.0"),
    (FinalTrainSettings, {"val_batch_size": 0}, "val_batch_size: got 0, expected >= 1"),
    (FinalTrainSettings, {"weight_decay": -1.0}, "weight_decay: got -1.0, expected >= 0"),
    (FinalTrainSettings, {"seed": -1}, "seed: got -1, expected >= 0"),
    (FinalTrainSettings, {"scale_range": (2.0, 1.0)}, "scale_range: got [2.0, 1.0]"),
    (EvalSettings, {"scales": ()}, "scales: got [], expected at least one scale"),
    (EvalSettings, {"batch_size": 0}, "batch_size: got 0, expected >= 1"),
    (PredictSettings, {"alpha": 2.0}, "alpha: got 2.0, expected a number in [0, 1]"),
    (ExportSettings, {"opset": 11}, "opset: got 11, expected >= 17"),
    (ExportSettings, {"latency_warmup": -1}, "latency_warmup: got -1, expected >= 0"),
]


def _id(case: tuple) -> str:
    cls, changes, _ = case
    return f"{cls.__name__}-{'-'.join(changes)}"


@pytest.mark.parametrize(("cls", "changes", "message"), BAD_VALUES, ids=map(_id, BAD_VALUES))
def test_construction_and_replace_check_the_field(cls, changes, message) -> None:
    with pytest.raises(FieldError) as info:
        cls(**changes)
    assert str(info.value).startswith(message)
    assert info.value.field == message.split(":")[0]
    with pytest.raises(FieldError, match=f"^{re.escape(message)}"):
        dataclasses.replace(cls(), **changes)  # replace cannot skip the check


@pytest.mark.parametrize(("cls", "changes", "message"), BAD_VALUES, ids=map(_id, BAD_VALUES))
def test_from_dict_puts_the_dotted_path_in_front(cls, changes, message) -> None:
    data = {
        key: list(value) if isinstance(value, tuple) else value for key, value in changes.items()
    }
    with pytest.raises(SettingsError) as info:
        from_dict(cls, data, where="outer.block")
    field = message.split(":")[0]
    assert str(info.value).startswith(f"outer.block.{field}: ")  # a Literal fails its type check


def test_the_builtin_settings_name_their_field_too() -> None:
    with pytest.raises(ValueError, match=r"BuiltinSettings\.train_count: got -1"):
        BuiltinSettings(train_count=-1)


NESTED = [
    ({"evaluation": {"stage2": {"epochs": 0}}}, "evaluation.stage2.epochs: got 0, expected >= 1"),
    (
        {"evaluation": {"decoder": {"channels": 0}}},
        "evaluation.decoder.channels: got 0, expected >= 1",
    ),
    (
        {"evaluation": {"stage1": {"batch_size": 1}}},
        "evaluation.stage1.batch_size: got 1, expected >= 2 (batch norm needs two samples)",
    ),
    ({"ppo": {"controller": {"layers": 0}}}, "ppo.controller.layers: got 0, expected >= 1"),
    ({"evolution": {"population": 1}}, "evolution.population: got 1, expected >= 2"),
    ({"teacher_settings": {"fit": {"epochs": 0}}}, "teacher_settings.fit.epochs: got 0"),
    ({"termination": {"p_end": 2.0}}, "termination.p_end: got 2.0, expected a probability"),
    ({"budget": 0}, "budget: got 0, expected >= 1"),
]


@pytest.mark.parametrize(("data", "message"), NESTED)
def test_nested_errors_read_as_one_dotted_path(data, message) -> None:
    with pytest.raises(SettingsError) as info:
        from_dict(SearchSettings, data)
    assert str(info.value).startswith(message)


def test_overrides_and_files_give_the_same_path(tmp_path) -> None:
    with pytest.raises(SettingsError, match=r"^evaluation\.stage2\.epochs: got 0, expected >= 1$"):
        apply_overrides(SearchSettings(), ["evaluation.stage2.epochs=0"])
    with pytest.raises(SettingsError, match=r"^budget: got -1, expected >= 1$"):
        apply_overrides(SearchSettings(), ["budget=-1"])
    path = tmp_path / "search.yaml"
    path.write_text("evaluation:\n  decoder:\n    repeats: 0\n")
    with pytest.raises(SettingsError) as info:
        load_layers(SearchSettings, "proxy", path)
    assert str(info.value) == (
        f"preset 'proxy' + {path}: evaluation.decoder.repeats: got 0, expected >= 1"
    )
    with pytest.raises(SettingsError, match=r"^decoder\.channels: got 0, expected >= 1$"):
        apply_overrides(FinalTrainSettings(), ["decoder.channels=0"])


def test_search_and_final_share_the_decoder_block_with_their_own_defaults() -> None:
    assert CandidateSettings().decoder == DecoderSettings(48, 1, "cell")
    assert FinalTrainSettings().decoder == DecoderSettings(64, 2, "cell")
    config = apply_overrides(SearchSettings(), ["evaluation.decoder.channels=32"])
    assert config.evaluation.decoder == DecoderSettings(32, 1, "cell")  # the others kept
    final = apply_overrides(FinalTrainSettings(), ["decoder={repeats: 1}"])
    assert final.decoder == DecoderSettings(64, 1, "cell")
    assert "  decoder:\n    # Width C" in to_yaml(SearchSettings())


def test_the_run_seed_is_the_only_seed_of_a_search() -> None:
    assert "seed" not in to_dict(CandidateSettings())
    with pytest.raises(SettingsError, match=r"^evaluation\.seed: unknown key"):
        apply_overrides(SearchSettings(), ["evaluation.seed=1"])


@pytest.mark.parametrize("cls", [SearchSettings, FinalTrainSettings, CandidateSettings])
def test_defaults_round_trip(cls) -> None:
    assert from_dict(cls, to_dict(cls())) == cls()
