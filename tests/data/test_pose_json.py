"""Properties of pose annotation parsing: typed fields, COCO keypoint conversion, whole files of
arbitrary entries (every entry is read, skipped or reported, never a crash) and the specs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from segnas.data import DatasetError, parse_spec
from segnas.data.coco import coco_keypoints, read_coco
from segnas.data.pose_json import FieldError, field, identifier, integer, number, numbers, text
from tests.fixtures.posefiles import coco_annotation, coco_points, write_coco

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@given(json_values)
def test_field_readers_accept_their_type_or_name_the_field(value):
    for read, accepts in (
        (number, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
        (integer, lambda v: not isinstance(v, bool) and (
            isinstance(v, int) or isinstance(v, float) and v.is_integer())),
        (text, lambda v: isinstance(v, str) and v != ""),
        (identifier, lambda v: (isinstance(v, str) and v != "") or (
            isinstance(v, int) and not isinstance(v, bool))),
    ):  # fmt: skip
        if accepts(value):
            read(value, "f")
        else:
            with pytest.raises(FieldError, match="^field 'f' is "):
                read(value, "f")


@given(st.lists(json_values, max_size=6), st.integers(0, 6))
def test_numbers_checks_type_and_length(values, count):
    fine = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if fine and len(values) == count:
        assert numbers(values, "kp", count) == [float(v) for v in values]
    else:
        with pytest.raises(FieldError, match=r"^field 'kp(\[\d+\])?' "):
            numbers(values, "kp", count)


def test_field_names_missing_fields_and_non_objects():
    assert field({"a": 1}, "a") == 1
    with pytest.raises(FieldError, match="^no field 'b'$"):
        field({"a": 1}, "b")
    with pytest.raises(FieldError, match="^entry is a list, expected an object$"):
        field([1], "a")
    assert integer(3.0, "n") == 3 and identifier(7, "id") == "7"
    with pytest.raises(
        FieldError, match=r"^field 'n' is a list \[1, 2, 3, .*, 1\.\.\., expected an integer$"
    ):
        integer([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], "n")


visibility = st.sampled_from([0, 1, 2])
coordinate = st.integers(0, 2000)


@given(st.lists(st.tuples(coordinate, coordinate, visibility), min_size=1, max_size=17))
def test_coco_keypoints_move_labelled_points_to_pixel_centres(rows):
    flat = [value for row in rows for value in row]
    out = coco_keypoints(flat, len(rows))
    assert out.shape == (len(rows), 3) and out.dtype == np.float32
    for (x, y, v), (ox, oy, ov) in zip(rows, out.tolist()):
        assert ov == v
        assert (ox, oy) == ((x + 0.5, y + 0.5) if v else (0.0, 0.0))


broken = st.sampled_from(
    [
        ("keypoints", "x"),
        ("keypoints", [1, 2, 3]),
        ("bbox", [1, 2, 3]),
        ("bbox", None),
        ("area", "big"),
        ("image_id", 99),
        ("id", True),
        ("num_keypoints", 1.5),
        ("iscrowd", "no"),
        ("category_id", None),
    ]
)
entries = st.one_of(
    st.tuples(st.just("good"), st.none()),
    st.tuples(st.just("crowd"), st.none()),
    st.tuples(st.just("empty"), st.none()),
    st.tuples(st.just("broken"), broken),
    st.tuples(st.just("junk"), json_values.filter(lambda v: not isinstance(v, dict))),
)


@given(st.lists(entries, max_size=8))
def test_every_coco_entry_is_read_skipped_or_reported(tmp_path_factory, plan):
    root = tmp_path_factory.mktemp("coco")
    good = coco_points(nose=(1, 2, 2))
    annotations = []
    for k, (what, change) in enumerate(plan):
        if what == "junk":
            annotations.append(change)
            continue
        entry = coco_annotation(k, 1, good)
        if what == "crowd":
            entry["iscrowd"] = 1
        elif what == "empty":
            entry["num_keypoints"] = 0
        elif what == "broken":
            entry[change[0]] = change[1]
        annotations.append(entry)
    path = write_coco(root, annotations)
    names, instances, problems = read_coco(path, root / "val2017")
    read = [k for k, (what, _) in enumerate(plan) if what == "good"]
    bad = [k for k, (what, _) in enumerate(plan) if what in ("broken", "junk")]
    assert [instance.id for instance in instances] == [str(k) for k in read]
    assert [p.path for p in problems] == [f"{path}#annotations[{k}]" for k in bad]
    assert all(p.kind == "bad_annotation" and "annotation" in p.message for p in problems)
    assert names[0] == "nose"


def test_nan_in_json_reaches_the_sample_for_the_check_to_report(tmp_path: Path):
    path = write_coco(tmp_path, [coco_annotation(1, 1, [*coco_points()[:-1], math.nan])])
    assert "NaN" in path.read_text()
    _, [instance], problems = read_coco(path, tmp_path / "val2017")
    assert problems == [] and math.isnan(instance.keypoints[16, 2])
    assert json.loads(path.read_text())["annotations"][0]["num_keypoints"] == 1


path_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=","), min_size=1
).filter(lambda s: s.strip() == s and s.strip())


@given(st.sampled_from(["coco", "mpii"]), path_text)
def test_pose_specs_parse_and_print_back(kind, path):
    spec = parse_spec(f"{kind}:{path}")
    assert spec.kind == kind and spec.paths == (path,)
    assert parse_spec(str(spec)) == spec


@given(st.sampled_from(["coco", "mpii"]), st.sampled_from(["", ":", ":a,b", ":a,", ": "]))
def test_pose_specs_need_exactly_one_path(kind, rest):
    with pytest.raises(DatasetError, match=f"expected {kind}:PATH"):
        parse_spec(f"{kind}{rest}")
