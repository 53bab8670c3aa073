"""The dataset-name grammar: round trips, and clear errors for everything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segnas.data import DatasetError, DatasetSpec, parse_spec
from segnas.data.spec import BUILTIN_OPTIONS, PATH_COUNTS, builtin_config

# Path text as people type it: words (no commas, whitespace or controls) joined by spaces.
word = st.text(
    alphabet=st.characters(
        blacklist_characters=",", blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")
    ),
    min_size=1,
    max_size=8,
)
path_text = st.lists(word, min_size=1, max_size=3).map(" ".join).filter(lambda p: p.strip() == p)


@st.composite
def specs(draw: st.DrawFn) -> DatasetSpec:
    kind = draw(st.sampled_from(["builtin", *PATH_COUNTS]))
    if kind == "builtin":
        keys = draw(st.lists(st.sampled_from(sorted(BUILTIN_OPTIONS)), unique=True))
        values = draw(st.lists(st.integers(0, 10**6), min_size=len(keys), max_size=len(keys)))
        return DatasetSpec("builtin", options=tuple(sorted(zip(keys, values))))
    paths = draw(st.lists(path_text, min_size=PATH_COUNTS[kind], max_size=PATH_COUNTS[kind]))
    return DatasetSpec(kind, tuple(paths))


@given(specs())
def test_canonical_spelling_round_trips(spec: DatasetSpec):
    assert parse_spec(str(spec)) == spec


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_dataset_error(text: str):
    try:
        spec = parse_spec(text)
    except DatasetError as err:
        assert repr(text.strip().partition(":")[0]) in str(err) or "expected" in str(err)
    else:
        assert parse_spec(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("builtin", DatasetSpec("builtin")),
        ("builtin:", DatasetSpec("builtin")),
        ("builtin:size=128, seed=3", DatasetSpec("builtin", options=(("seed", 3), ("size", 128)))),
        ("voc:/data/VOC2012", DatasetSpec("voc", ("/data/VOC2012",))),
        ("voc:C:\\data\\VOC", DatasetSpec("voc", ("C:\\data\\VOC",))),
        ("voc_aug:~/voc, ~/sbd", DatasetSpec("voc_aug", ("~/voc", "~/sbd"))),
        ("cityscapes:cs", DatasetSpec("cityscapes", ("cs",))),
        ("folder:./my data", DatasetSpec("folder", ("./my data",))),
        ("list:train.txt", DatasetSpec("list", ("train.txt",))),
    ],
)
def test_examples(text: str, expected: DatasetSpec):
    assert parse_spec(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ade20k:/data", "unknown kind 'ade20k', expected one of builtin, voc:PATH"),
        ("voc", r"expected voc:PATH \(1 non-empty path\)"),
        ("voc:", r"expected voc:PATH"),
        ("voc_aug:/voc", r"expected voc_aug:VOC_PATH,SBD_PATH \(2 non-empty paths"),
        ("voc_aug:/voc,", "expected voc_aug:VOC_PATH,SBD_PATH"),
        ("folder:a,b", r"expected folder:PATH \(1 non-empty path\)"),
        ("list:", "expected list:FILE"),
        ("builtin:colour=3", "builtin option 'colour=3' unknown, expected KEY=VALUE"),
        ("builtin:seed=x", r"builtin option seed='x' is not an integer"),
        ("builtin:seed=-1", "is not an integer"),
        ("builtin:seed=1,seed=2", "builtin option seed given twice"),
    ],
)
def test_errors_say_what_was_expected(text: str, message: str):
    with pytest.raises(DatasetError, match=message):
        parse_spec(text)


def test_builtin_options_set_config_fields():
    config = builtin_config(parse_spec("builtin:seed=3,size=32,train=10,val=4"))
    assert (config.seed, config.shape, config.train_count, config.val_count) == (3, (32, 32), 10, 4)
    with pytest.raises(DatasetError, match="BuiltinSettings.image_size: got 8"):
        builtin_config(parse_spec("builtin:size=8"))
