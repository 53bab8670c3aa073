"""Typed config layer: round trips, errors that name the dotted path, docs, overrides, CLI."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from typing import Literal

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from segnas.cli.options import add_settings, resolve_settings
from segnas.settings_io import (
    SettingsError,
    apply_overrides,
    dump_yaml,
    field_docs,
    from_dict,
    load_yaml,
    replace_path,
    to_dict,
    to_yaml,
)

Mode = Literal["cell", "plain", "none"]


@dataclass(frozen=True)
class Stage:
    """One training stage."""

    epochs: int = 5
    """Passes over the data."""
    lr: float = 3e-3
    """Learning rate.

    Adam for the decoder."""

    def validate(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")


@dataclass(frozen=True)
class Decoder:
    channels: int = 48
    """Decoder width."""
    aux_mode: Mode = "cell"
    """Auxiliary heads."""
    crop: tuple[int, ...] = (64, 64)
    """Crop sides."""
    pair: tuple[int, float] = (1, 0.5)
    """A fixed-length pair."""
    note: str | None = None
    """Free text."""
    extra: bool = False


@dataclass(frozen=True)
class Teacher:
    scale: float = 0.25
    """Teacher logits are cached at this fraction of the input size."""


@dataclass(frozen=True)
class Run:
    """A sample top-level config."""

    name: str = "run"
    """Run name."""
    seed: int = 0
    """The one seed."""
    polyak: bool = True
    """Validate with averaged weights."""
    limit: int | None = None
    """Optional cap."""
    stage1: Stage = field(default_factory=Stage)
    """Stage 1."""
    stage2: Stage = field(default_factory=lambda: Stage(epochs=1))
    """Stage 2."""
    decoder: Decoder = field(default_factory=Decoder)
    """Decoder settings."""
    teacher: Teacher | None = None
    """Distillation teacher, or none."""
    widths: list[int] = field(default_factory=lambda: [1, 2])
    """A list field."""

    def validate(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


@dataclass
class Window:
    lo: int = 0
    """Lower bound."""
    hi: int = 3
    """Upper bound."""

    def validate(self) -> None:
        if self.lo > self.hi:
            raise ValueError(f"lo ({self.lo}) must not exceed hi ({self.hi})")


@dataclass(frozen=True)
class Checked:
    size: int = 1

    def __post_init__(self) -> None:
        if self.size % 2 == 0:
            raise ValueError("size must be odd")


@dataclass(frozen=True)
class NeedsName:
    name: str
    """Required."""


@dataclass(frozen=True)
class LongStage(Stage):
    warmup: int = 0
    """Warm-up epochs."""


class Outer:
    @dataclass(frozen=True)
    class Inner:
        depth: int = 2
        """Nested class field."""


# --- hypothesis: random valid configs ---------------------------------------------------------

ints = st.integers(-(2**40), 2**40)
floats = st.floats(allow_nan=False)
stages = st.builds(Stage, epochs=st.integers(1, 10**6), lr=floats)
decoders = st.builds(
    Decoder,
    channels=ints,
    aux_mode=st.sampled_from(["cell", "plain", "none"]),
    crop=st.lists(ints, max_size=4).map(tuple),
    pair=st.tuples(ints, floats),
    note=st.none() | st.text(),
    extra=st.booleans(),
)
runs = st.builds(
    Run,
    name=st.text(),
    seed=st.integers(0, 2**40),
    polyak=st.booleans(),
    limit=st.none() | ints,
    stage1=stages,
    stage2=stages,
    decoder=decoders,
    teacher=st.none() | st.builds(Teacher, scale=floats),
    widths=st.lists(ints, max_size=3),
)


def leaves(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) for every leaf of a `to_dict` tree."""
    out = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        out += leaves(value, path + ".") if isinstance(value, dict) else [(path, value)]
    return out


def as_override(path: str, value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 16)
    return path + "=" + text.removesuffix("...\n").strip()


@given(runs)
def test_yaml_round_trip(tmp_path_factory: pytest.TempPathFactory, config: Run) -> None:
    path = tmp_path_factory.mktemp("cfg") / "run.yaml"
    dump_yaml(config, path)
    assert load_yaml(Run, path) == config


@given(runs)
def test_dict_round_trip(config: Run) -> None:
    data = to_dict(config)
    assert isinstance(data["decoder"]["crop"], list)
    assert from_dict(Run, data) == config


@given(runs)
def test_overrides_of_every_leaf_rebuild_the_config(config: Run) -> None:
    overrides = [as_override(path, value) for path, value in leaves(to_dict(config))]
    assert apply_overrides(Run(), overrides) == config


# --- from_dict: accepted and rejected input ---------------------------------------------------


def test_defaults_from_empty_mapping() -> None:
    assert from_dict(Run, {}) == Run()


def test_lenient_where_unambiguous() -> None:
    config = from_dict(
        Run,
        {"stage1": {"lr": 1, "epochs": 2}, "stage2": {"lr": "1e-3"}, "decoder": {"crop": [3, 4]}},
    )
    assert config.stage1.lr == 1.0 and isinstance(config.stage1.lr, float)
    assert config.stage2.lr == 1e-3  # PyYAML reads `1e-3` as text
    assert from_dict(Stage, {"lr": "-2.5E+2"}).lr == -250.0
    assert config.decoder.crop == (3, 4)
    assert from_dict(Run, {"widths": (5,)}).widths == [5]
    assert from_dict(Run, {"teacher": {}}).teacher == Teacher()
    assert from_dict(Run, {"decoder": Decoder(channels=8)}).decoder.channels == 8


BAD_INPUT = [
    ({"stage1": {"epoch": 3}}, ["stage1.epoch", "unknown key", "epochs, lr"]),
    ({"colour": 1}, ["colour", "name, seed, polyak"]),
    ({"seed": "3"}, ["seed", "expected int", "'3' (str)"]),
    ({"seed": True}, ["seed", "expected int", "True (bool)"]),
    ({"seed": 1.5}, ["seed", "expected int", "1.5"]),
    ({"stage1": {"lr": "fast"}}, ["stage1.lr", "expected float", "'fast'"]),
    ({"stage1": {"lr": False}}, ["stage1.lr", "expected float", "False (bool)"]),
    ({"stage1": {"lr": "3"}}, ["stage1.lr", "expected float", "'3' (str)"]),
    ({"polyak": 1}, ["polyak", "expected bool", "1 (int)"]),
    ({"polyak": "yes"}, ["polyak", "expected bool"]),
    ({"name": 3}, ["name", "expected str"]),
    ({"decoder": {"aux_mode": "fancy"}}, ["decoder.aux_mode", "one of 'cell', 'plain', 'none'"]),
    ({"decoder": {"aux_mode": 1}}, ["decoder.aux_mode", "one of"]),
    ({"decoder": {"crop": "64"}}, ["decoder.crop", "expected tuple[int, ...]"]),
    ({"decoder": {"crop": [64, "x"]}}, ["decoder.crop[1]", "expected int", "'x'"]),
    ({"decoder": {"pair": [1, 2.0, 3]}}, ["decoder.pair", "tuple[int, float]"]),
    ({"decoder": {"pair": [1, "a"]}}, ["decoder.pair[1]", "expected float"]),
    ({"decoder": {"note": 5}}, ["decoder.note", "str | None"]),
    ({"decoder": 5}, ["decoder", "expected Decoder", "5 (int)"]),
    ({"limit": "none"}, ["limit", "expected int | None"]),
    ({"teacher": 3}, ["teacher", "expected Teacher | None"]),
    ({"teacher": {"scale": "big"}}, ["teacher.scale", "expected float"]),
    ({"teacher": {"size": 1}}, ["teacher.size", "Teacher allows: scale"]),
    ({"widths": [1, None]}, ["widths[1]", "expected int", "None"]),
    ({"stage2": {"epochs": 0}}, ["stage2: epochs must be >= 1, got 0"]),
    ({"seed": -1}, ["Run: seed must be >= 0"]),
]


@pytest.mark.parametrize(("data", "fragments"), BAD_INPUT)
def test_bad_input_names_the_path(data: dict, fragments: list[str]) -> None:
    with pytest.raises(SettingsError) as info:
        from_dict(Run, data)
    assert isinstance(info.value, ValueError)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_where_prefixes_nested_paths() -> None:
    with pytest.raises(SettingsError, match=r"^search\.stage1\.epochs: expected int"):
        from_dict(Run, {"stage1": {"epochs": "x"}}, where="search")


def test_not_a_mapping() -> None:
    with pytest.raises(SettingsError, match=r"^Run: expected a mapping of Run fields"):
        from_dict(Run, [1, 2])  # type: ignore[arg-type]


def test_missing_required_field() -> None:
    with pytest.raises(SettingsError, match=r"^name: missing"):
        from_dict(NeedsName, {})
    assert from_dict(NeedsName, {"name": "x"}).name == "x"


def test_post_init_errors_are_wrapped_too() -> None:
    with pytest.raises(SettingsError, match=r"^Checked: size must be odd"):
        from_dict(Checked, {"size": 2})


def test_unsupported_field_type_is_a_programming_error() -> None:
    @dataclass
    class Bad:
        tags: set[int] = field(default_factory=set)

    with pytest.raises(TypeError, match="tags"):
        from_dict(Bad, {"tags": [1]})


# --- docs and YAML ----------------------------------------------------------------------------


def test_field_docs() -> None:
    docs = field_docs(Run)
    assert list(docs) == [f.name for f in fields(Run)]
    assert docs["name"] == "Run name."
    assert docs["teacher"] == "Distillation teacher, or none."
    assert field_docs(Stage)["lr"] == "Learning rate.\n\nAdam for the decoder."
    assert field_docs(Decoder)["extra"] == ""
    assert field_docs(Outer.Inner) == {"depth": "Nested class field."}
    assert field_docs(LongStage) == {
        "epochs": "Passes over the data.",
        "lr": "Learning rate.\n\nAdam for the decoder.",
        "warmup": "Warm-up epochs.",
    }


def test_yaml_has_docs_as_comments(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    dump_yaml(replace_path(Run(), "teacher", {"scale": 0.5}), path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#")
    assert lines[lines.index("name: run") - 1] == "# Run name."
    assert lines[lines.index("  channels: 48") - 1] == "  # Decoder width."
    assert lines[lines.index("decoder:") - 1] == "# Decoder settings."
    at = lines.index("stage1:")
    assert lines[at + 3 : at + 7] == [
        "  # Learning rate.",
        "  #",
        "  # Adam for the decoder.",
        "  lr: 0.003",
    ]
    assert "  crop: [64, 64]" in lines
    assert "limit: null" in lines
    assert "  scale: 0.5" in lines
    assert lines[lines.index("  extra: false") - 1] == "  note: null"  # no doc, no comment
    assert load_yaml(Run, path) == from_dict(Run, yaml.safe_load(path.read_text()))


def test_load_yaml_partial_and_empty(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("")
    assert load_yaml(Run, path) == Run()
    path.write_text("# nothing but a comment\n")
    assert load_yaml(Run, path) == Run()
    path.write_text("stage1:\n  lr: 1e-4\ndecoder:\n  aux_mode: plain\n")
    config = load_yaml(Run, str(path))
    assert (config.stage1.lr, config.stage1.epochs, config.decoder.aux_mode) == (1e-4, 5, "plain")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("stage1: [unclosed\n", "not valid YAML"),
        ("- 1\n- 2\n", "Run: expected a mapping"),
        ("stage1:\n  epoch: 3\n", "stage1.epoch: unknown key; Stage allows: epochs, lr"),
        ("decoder:\n  aux_mode: fancy\n", "decoder.aux_mode: expected one of"),
        ("stage2:\n  epochs: 0\n", "stage2: epochs must be >= 1"),
    ],
)
def test_load_yaml_errors_name_the_file(tmp_path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_yaml(Run, path)
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)


def test_load_yaml_missing_file(tmp_path) -> None:
    with pytest.raises(SettingsError, match="missing.yaml: cannot read"):
        load_yaml(Run, tmp_path / "missing.yaml")


# --- overrides and replace_path ---------------------------------------------------------------


def test_overrides_apply_in_order() -> None:
    base = Run()
    config = apply_overrides(
        base,
        ["stage1.epochs=3", "decoder.aux_mode=plain", "polyak=false", "seed=1", "seed=2"],
    )
    assert (config.stage1.epochs, config.decoder.aux_mode, config.polyak) == (3, "plain", False)
    assert config.seed == 2
    assert base == Run()  # the input is left alone
    assert apply_overrides(base, []) == base


def test_override_values_are_yaml() -> None:
    config = apply_overrides(
        Run(),
        ["decoder.crop=[1, 2, 3]", "limit=7", "limit=null", "stage1.lr=1e-4", " widths = [] "],
    )
    assert (config.decoder.crop, config.limit, config.stage1.lr) == ((1, 2, 3), None, 1e-4)
    assert config.widths == []


def test_str_fields_keep_the_text_yaml_would_convert() -> None:
    assert apply_overrides(Run(), ["name=2024"]).name == "2024"
    assert apply_overrides(Run(), ["name=off"]).name == "off"
    assert apply_overrides(Run(), ["name=a: b"]).name == "a: b"
    assert apply_overrides(Run(), ["name=[oops"]).name == "[oops"
    assert apply_overrides(Run(), ["decoder.note=no"]).decoder.note == "no"
    assert apply_overrides(Run(), ["decoder.note=null"]).decoder.note is None


def test_nested_config_overrides() -> None:
    config = apply_overrides(Run(), ["teacher.scale=0.5"])  # None -> defaults + the key set
    assert config.teacher == Teacher(scale=0.5)
    assert apply_overrides(config, ["teacher=null"]).teacher is None
    config = apply_overrides(Run(), ["decoder.aux_mode=none", "decoder={channels: 8}"])
    assert (config.decoder.channels, config.decoder.aux_mode) == (8, "none")  # merged, not reset


def test_cross_field_validation_runs_once_at_the_end() -> None:
    window = Window()
    assert apply_overrides(window, ["lo=5", "hi=9"]) == Window(lo=5, hi=9)
    assert window == Window()
    with pytest.raises(SettingsError, match=r"^Window: lo \(5\) must not exceed hi \(3\)"):
        apply_overrides(window, ["lo=5"])


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("stage1.epoch=3", ["stage1.epoch: unknown key; Stage allows: epochs, lr"]),
        ("sede=3", ["sede: unknown key; Run allows: name, seed, polyak, limit, stage1"]),
        ("stage1.epochs=three", ["stage1.epochs: expected int, got 'three' (str)"]),
        ("stage1.epochs=true", ["stage1.epochs: expected int, got True (bool)"]),
        ("polyak=maybe", ["polyak: expected bool"]),
        ("decoder.aux_mode=fancy", ["decoder.aux_mode: expected one of 'cell'"]),
        ("decoder.crop=[1, x]", ["decoder.crop[1]: expected int"]),
        ("decoder={chanels: 8}", ["decoder.chanels: unknown key; Decoder allows: channels"]),
        ("stage1.epochs=0", ["stage1: epochs must be >= 1"]),
        ("seed.x=1", ["seed: is int, which has no key 'x'"]),
        ("seed", ["override 'seed': expected KEY=VALUE"]),
        ("=3", ["expected KEY=VALUE"]),
    ],
)
def test_bad_overrides_name_the_key(override: str, fragments: list[str]) -> None:
    with pytest.raises(SettingsError) as info:
        apply_overrides(Run(), ["seed=1", override])
    for fragment in fragments:
        assert fragment in str(info.value)


def test_replace_path_is_typed_and_validated() -> None:
    config = replace_path(Run(), "stage1.lr", 1)
    assert config.stage1.lr == 1.0 and isinstance(config.stage1.lr, float)
    assert replace_path(Run(), "decoder.crop", [5]).decoder.crop == (5,)
    assert replace_path(Run(), "stage2", Stage(epochs=9)).stage2 == Stage(epochs=9)
    with pytest.raises(SettingsError, match=r"^stage1\.epochs: expected int, got '3'"):
        replace_path(Run(), "stage1.epochs", "3")  # no YAML parsing here: types are exact
    with pytest.raises(SettingsError, match="stage1: epochs must be >= 1"):
        replace_path(Run(), "stage1.epochs", 0)
    with pytest.raises(SettingsError, match="decoder.width: unknown key"):
        replace_path(Run(), "decoder.width", 3)


# --- command line -----------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segnas-test")
    add_settings(parser, Run, example="stage1.epochs=3")
    return parser


def test_resolve_config_file_then_overrides_in_order(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("seed: 1\nstage1:\n  epochs: 2\n")
    args = make_parser().parse_args(
        ["--set", "seed=5", "--config", str(path), "--set", "seed=7", "--set", "polyak=false"]
    )
    config = resolve_settings(Run, args)
    assert (config.seed, config.stage1.epochs, config.polyak) == (7, 2, False)
    assert resolve_settings(Run, make_parser().parse_args([])) == Run()


def test_resolve_settings_of_a_bare_parser() -> None:
    parser = argparse.ArgumentParser()
    add_settings(parser, Run, example="stage2.epochs=4")
    args = parser.parse_args(["--set", "stage2.epochs=4"])
    assert resolve_settings(Run, args).stage2.epochs == 4
    with pytest.raises(SystemExit):
        parser.parse_args(["--help-config"])


def test_resolve_config_errors_are_config_errors(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("seed: -1\n")
    with pytest.raises(SettingsError, match=r"run\.yaml: Run: seed must be >= 0"):
        resolve_settings(Run, make_parser().parse_args(["--config", str(path)]))
    with pytest.raises(SettingsError, match=r"^stage1\.epochs: expected int"):
        resolve_settings(Run, make_parser().parse_args(["--set", "stage1.epochs=x"]))


def test_help_config_prints_the_documented_defaults(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        make_parser().parse_args(["--help-config"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out == to_yaml(Run())
    assert "# Decoder width." in out
    assert from_dict(Run, yaml.safe_load(out)) == Run()
    assert "--help-config" in make_parser().format_help()
