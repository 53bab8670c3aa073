"""Pose sources: the built-in view, COCO keypoints and MPII (HRNet JSON), read back exactly,
and bad files refused or reported with the file, entry and field."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from segnas.data import (
    BuiltinSettings,
    DatasetError,
    check_dataset,
    open_dataset,
    require_clean,
    subset,
)
from segnas.data.builtin import KEYPOINT_NAMES, generate
from segnas.data.builtin.scene import BALL, BOX, BRICK, STONE, TRIANGLE
from segnas.data.builtin.source import cache_key, identity
from segnas.data.pose import (
    BUILTIN_FLIP_PAIRS,
    COCO_FLIP_PAIRS,
    COCO_KEYPOINT_NAMES,
    MPII_FLIP_PAIRS,
    MPII_KEYPOINT_NAMES,
    flip_pairs_from_names,
)
from segnas.data.pose_view import HEAD_FRACTION, PoseView, pose_keypoints
from tests.fixtures.datafiles import rgb
from tests.fixtures.posefiles import (
    coco_annotation,
    coco_points,
    mpii_record,
    write_coco,
    write_mpii,
)

SPEC = "builtin:size=64,train=4,val=2"


# --- built-in view ---------------------------------------------------------------------------


def test_builtin_pose_view(tmp_path: Path):
    view = open_dataset(SPEC, task="pose", cache_dir=tmp_path)
    plain = open_dataset(SPEC, cache_dir=tmp_path)
    assert isinstance(view, PoseView) and view.task == "pose"
    assert view.num_classes == 8 and view.class_names == list(KEYPOINT_NAMES)
    assert view.keypoint_names == KEYPOINT_NAMES and view.flip_pairs == BUILTIN_FLIP_PAIRS
    assert view.palette.shape == (8, 3) and view.background_index is None
    marked = {**plain.describe(), "marked_anchors": True, "task": "pose"}
    assert view.ids == plain.ids and view.describe() == marked
    for i in range(len(view)):
        sample, scene = view[i], plain[i]
        assert sample.keypoints.shape == (8, 3) and sample.keypoints.dtype == np.float32
        np.testing.assert_array_equal(sample.keypoints[:, :2], scene.keypoints[:, :2])
        np.testing.assert_array_equal(sample.box, [0, 0, 64, 64])
        assert sample.box.dtype == np.float32
        assert sample.area == 64 * 64 and sample.image_id == sample.id == scene.id
        assert sample.head_size == pytest.approx(HEAD_FRACTION * math.hypot(64, 64))
        assert set(sample.keypoints[:, 2].tolist()) <= {0.0, 1.0, 2.0}
    again = open_dataset(SPEC, task="pose", cache_dir=tmp_path / "other")  # regenerated
    np.testing.assert_array_equal(again[3].keypoints, view[3].keypoints)
    np.testing.assert_array_equal(again[3].image, view[3].image)
    restored = pickle.loads(pickle.dumps(view))
    np.testing.assert_array_equal(restored[1].keypoints, view[1].keypoints)
    part = subset(view, view.ids[:2])
    assert part.task == "pose" and part.flip_pairs == BUILTIN_FLIP_PAIRS
    assert part.keypoint_names == KEYPOINT_NAMES and part.num_classes == 8


def _channel_spread(pixels: np.ndarray) -> np.ndarray:
    return pixels.max(axis=-1).astype(int) - pixels.min(axis=-1).astype(int)


def test_pose_scenes_mark_their_anchors_and_change_nothing_else():
    """Marked anchors are the only saturated objects; labels, depth and keypoints unchanged."""
    saturated, checked = 0, 0
    for i in range(12):
        plain = generate(BuiltinSettings(), "train", i)
        marked = generate(BuiltinSettings(marked_anchors=True), "train", i)
        np.testing.assert_array_equal(marked.mask, plain.mask)
        np.testing.assert_array_equal(marked.depth, plain.depth)
        np.testing.assert_array_equal(marked.keypoints, plain.keypoints)
        objects = np.isin(plain.mask, [BALL, STONE, BOX, TRIANGLE])
        assert not np.array_equal(marked.image[objects], plain.image[objects])
        surface = plain.mask <= BRICK  # no object or wire drawn there: same pixels
        np.testing.assert_array_equal(marked.image[surface], plain.image[surface])
        spread = _channel_spread(marked.image[objects])
        assert not np.any((spread > 100) & (spread < 140))  # muted (<= 0.36) or marked (>= 0.63)
        for first, count, kind in ((0, 4, BOX), (4, 3, TRIANGLE)):
            points = marked.keypoints[first : first + count]
            if points[:, 2].all():  # every corner shows the anchor: its centre is the anchor's
                cx, cy = (int(v) for v in points[:, :2].mean(axis=0))
                if 0 <= cx < 64 and 0 <= cy < 64 and plain.mask[cy, cx] == kind:
                    checked += 1
                    saturated += int(_channel_spread(marked.image[cy, cx]) >= 140)
    assert checked >= 4 and saturated == checked, (saturated, checked)
    assert cache_key(BuiltinSettings(), "train") != cache_key(
        BuiltinSettings(marked_anchors=True), "train"
    )
    assert "marked_anchors" not in identity(BuiltinSettings(), "train")  # old caches stay valid


def test_builtin_flip_pairs_mirror_the_names():
    names = dict(enumerate(KEYPOINT_NAMES))
    pairs = {(names[a], names[b]) for a, b in BUILTIN_FLIP_PAIRS}
    assert pairs == {
        ("box_top_left", "box_top_right"),
        ("box_bottom_right", "box_bottom_left"),
        ("triangle_left", "triangle_right"),
    }


def test_builtin_visibility_becomes_coco_visibility():
    raw = np.array(
        [[3.5, 4.5, 1], [3.5, 4.5, 0], [-0.5, 4.0, 1], [10.0, 4.0, 1], [0, 0, 0], [9.99, 7.99, 0]],
        np.float32,
    )
    out = pose_keypoints(raw, 8, 10)
    assert out[:, 2].tolist() == [2, 1, 0, 0, 0, 1]  # seen / covered / off the image / undrawn
    np.testing.assert_array_equal(out[:, :2], raw[:, :2])


def test_pose_task_refuses_other_formats_and_classes(tmp_path: Path):
    with pytest.raises(DatasetError, match="voc has no keypoints; pose datasets are builtin"):
        open_dataset(f"voc:{tmp_path}", task="pose")
    with pytest.raises(DatasetError, match="--classes 5 given for a pose dataset with 8 keyp"):
        open_dataset(SPEC, task="pose", num_classes=5, cache_dir=tmp_path)
    assert open_dataset(SPEC, task="pose", num_classes=8, cache_dir=tmp_path).num_classes == 8
    with pytest.raises(DatasetError, match="coco is a pose dataset here.*use --task pose"):
        open_dataset(f"coco:{tmp_path}")
    with pytest.raises(DatasetError, match="mpii is a pose dataset here.*use --task pose"):
        open_dataset(f"mpii:{tmp_path}")
    with pytest.raises(DatasetError, match="coco has no depth"):
        open_dataset(f"coco:{tmp_path}", task="depth")
    with pytest.raises(DatasetError, match=r"expected coco:PATH \(1 non-empty path\)"):
        open_dataset("coco:a,b", task="pose")


# --- COCO --------------------------------------------------------------------------------------


def _coco_tree(root: Path) -> Path:
    nose_eye = coco_points(nose=(3, 4, 2), left_eye=(5, 6, 1))
    annotations = [
        coco_annotation(10, 1, nose_eye),
        coco_annotation(11, 2, coco_points(nose=(1, 1, 2)), iscrowd=1),  # crowd: skipped
        coco_annotation(12, 1, coco_points(), num_keypoints=0),  # nothing labelled: skipped
        coco_annotation(
            13, 2, coco_points(right_ankle=(15, 11, 2)), bbox=[0.0, 0.5, 16.0, 11.5], area=80.25
        ),
        coco_annotation(14, 2, coco_points(nose=(2, 2, 2)), category_id=2),  # not a person
    ]
    car = {"id": 2, "name": "car", "supercategory": "vehicle"}
    person = {"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES)}
    return write_coco(root, annotations, categories=[person, car])


def test_coco_reads_person_instances_exactly(tmp_path: Path):
    root = tmp_path / "coco"
    path = _coco_tree(root)
    source = open_dataset(f"coco:{root}", split="val", task="pose")
    assert source.name == "coco" and source.task == "pose" and source.split == "val"
    assert source.ids == ["10", "13"] and source.index_problems == []
    assert source.keypoint_names == COCO_KEYPOINT_NAMES and source.flip_pairs == COCO_FLIP_PAIRS
    assert source.num_classes == 17 and source.class_names == list(COCO_KEYPOINT_NAMES)
    first, second = source[0], source[1]
    expected = np.zeros((17, 3), np.float32)
    expected[0], expected[1] = (3.5, 4.5, 2), (5.5, 6.5, 1)  # pixel indices -> centres
    np.testing.assert_array_equal(first.keypoints, expected)
    assert first.keypoints.dtype == np.float32
    np.testing.assert_array_equal(first.box, np.array([1.5, 2.0, 10.0, 8.0], np.float32))
    assert first.area == 55.5 and first.image_id == "1" and first.head_size is None
    np.testing.assert_array_equal(first.image, rgb(1, 12, 16))
    assert first.mask is None
    assert second.keypoints[16].tolist() == [15.5, 11.5, 2.0]
    assert np.count_nonzero(second.keypoints) == 3
    np.testing.assert_array_equal(second.box, [0.0, 0.5, 16.0, 11.5])
    assert second.area == 80.25 and second.image_id == "2"
    np.testing.assert_array_equal(second.image, rgb(2, 12, 16))
    assert source.files(0) == (str(root / "val2017" / "a.png"), f"{path}#annotations[0]")
    assert source.files(1)[1] == f"{path}#annotations[3]"
    described = source.describe()
    assert described["format"] == "coco" and described["count"] == 2
    assert described["task"] == "pose" and described["annotations"] == str(path.resolve())
    restored = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(restored[1].keypoints, second.keypoints)


def test_coco_without_categories_and_with_own_keypoints(tmp_path: Path):
    root = tmp_path / "coco"
    write_coco(root, [coco_annotation(1, 1, coco_points(nose=(1, 2, 2)))], categories=[])
    with pytest.raises(DatasetError, match="0 categories named 'person', expected one"):
        open_dataset(f"coco:{root}", split="val", task="pose")
    names = ["head", "left_hand", "right_hand"]
    person = {"id": 1, "name": "person", "keypoints": names}
    entry = coco_annotation(1, 1, [1, 2, 2, 0, 0, 0, 3, 4, 1])
    write_coco(root, [entry], categories=[person])
    source = open_dataset(f"coco:{root}", split="val", task="pose")
    assert source.keypoint_names == tuple(names) and source.flip_pairs == ((1, 2),)
    assert source[0].keypoints.tolist() == [[1.5, 2.5, 2], [0, 0, 0], [3.5, 4.5, 1]]


def test_flip_pairs_from_names():
    assert flip_pairs_from_names(COCO_KEYPOINT_NAMES) == COCO_FLIP_PAIRS
    assert flip_pairs_from_names(["l_hip", "pelvis", "r_hip", "left_x"]) == ((0, 2),)


def test_coco_missing_and_malformed_files(tmp_path: Path):
    root = tmp_path / "coco"
    with pytest.raises(DatasetError, match=r"no folder .*val2017; expected COCO 2017 keypoints"):
        open_dataset(f"coco:{root}", split="val", task="pose")
    (root / "val2017").mkdir(parents=True)
    with pytest.raises(DatasetError) as err:
        open_dataset(f"coco:{root}", split="val", task="pose")
    assert "person_keypoints_val2017.json: no such file" in str(err.value)
    path = root / "annotations" / "person_keypoints_val2017.json"
    path.parent.mkdir()
    path.write_text('{"images": [], "annotations": [}')
    with pytest.raises(
        DatasetError, match=r"val2017.json: not valid JSON \(line 1 column 32: Expecting"
    ):
        open_dataset(f"coco:{root}", split="val", task="pose")
    path.write_text('{"images": [], "annotations": {}}')
    with pytest.raises(DatasetError, match="field 'annotations' is an object, expected a list"):
        open_dataset(f"coco:{root}", split="val", task="pose")
    path.write_text("[]")
    with pytest.raises(DatasetError, match="the file holds a list, expected an object"):
        open_dataset(f"coco:{root}", split="val", task="pose")
    path.write_text('{"annotations": []}')
    with pytest.raises(DatasetError, match="no field 'images'"):
        open_dataset(f"coco:{root}", split="val", task="pose")


def test_coco_bad_annotations_are_named_and_dropped(tmp_path: Path):
    root = tmp_path / "coco"
    good = coco_points(nose=(3, 4, 2))
    no_box = coco_annotation(21, 1, good)
    del no_box["bbox"]
    annotations = [
        coco_annotation(20, 1, good[:-1]),  # 50 values
        no_box,
        coco_annotation(22, 1, good, bbox="1 2 3 4"),
        coco_annotation(23, 9, good),  # unknown image
        coco_annotation(24, 1, good, area=True),
        "not an object",
        coco_annotation(25, 1, good),
        coco_annotation(25, 2, good),  # repeated id
        coco_annotation(26, 1, [*good[:-1], "2"]),
    ]
    path = write_coco(root, annotations)
    source = open_dataset(f"coco:{root}", split="val", task="pose")
    assert source.ids == ["25"]
    found = {p.path.rsplit("#", 1)[1]: p.message for p in source.index_problems}
    assert all(p.kind == "bad_annotation" for p in source.index_problems)
    assert all(p.path.startswith(str(path)) for p in source.index_problems)
    assert found == {
        "annotations[0]": "annotation id 20: field 'keypoints' has 50 values, expected 51 "
        "(3 x 17 keypoints); annotation dropped",
        "annotations[1]": "annotation id 21: no field 'bbox'; annotation dropped",
        "annotations[2]": "annotation id 22: field 'bbox' is a string, expected a list of "
        "numbers; annotation dropped",
        "annotations[3]": "annotation id 23: field 'image_id' is 9, which no entry of 'images' "
        "has; annotation dropped",
        "annotations[4]": "annotation id 24: field 'area' is a boolean True, expected a number; "
        "annotation dropped",
        "annotations[5]": "annotation without an id: entry is a string, expected an object; "
        "annotation dropped",
        "annotations[7]": f"id 25 repeats (first at {path}#annotations[6]); entry dropped",
        "annotations[8]": "annotation id 26: field 'keypoints[50]' is a string '2', expected a "
        "number; annotation dropped",
    }
    report = check_dataset(f"coco:{root}", split="val", task="pose", num_workers=0)
    assert not report.ok and report.count == 1 and report.dropped == 8
    with pytest.raises(DatasetError, match="coco:val has 8 problem"):
        require_clean(source, report)
    assert require_clean(source, report, skip_bad=True) is source  # nothing indexed is bad


def test_coco_bad_image_entries_and_categories(tmp_path: Path):
    root = tmp_path / "coco"
    path = write_coco(root, [coco_annotation(1, 1, coco_points(nose=(3, 4, 2)))])
    data = json.loads(path.read_text())
    data["images"].append({"id": 1, "file_name": "again.png"})
    data["images"].append({"id": 3})
    path.write_text(json.dumps(data))
    source = open_dataset(f"coco:{root}", split="val", task="pose")
    assert source.ids == ["1"]
    assert [(p.path.rsplit("#", 1)[1], p.message) for p in source.index_problems] == [
        ("images[2]", "image id 1 repeats; entry dropped"),
        ("images[3]", "image entry: no field 'file_name'"),
    ]
    data["categories"][0]["keypoints"] = ["a", "a"]
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="category 'person' repeats keypoint names"):
        open_dataset(f"coco:{root}", split="val", task="pose")
    data["categories"][0]["keypoints"] = ["a", 3]
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"category 'person': field 'keypoints\[1\]' is an in"):
        open_dataset(f"coco:{root}", split="val", task="pose")
    data["categories"][0]["keypoints"] = list(COCO_KEYPOINT_NAMES)
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="--classes 3 given for a pose dataset with 17"):
        open_dataset(f"coco:{root}", split="val", task="pose", num_classes=3)


def test_coco_empty_split_is_a_problem(tmp_path: Path):
    root = tmp_path / "coco"
    write_coco(root, [coco_annotation(1, 1, coco_points(), num_keypoints=0)], split="train")
    source = open_dataset(f"coco:{root}", task="pose")
    assert len(source) == 0
    [problem] = source.index_problems
    assert problem.kind == "empty_split" and "split 'train' has no instances" in problem.message


# --- MPII --------------------------------------------------------------------------------------


def _joints(**points: tuple[float, float]) -> tuple[list[list[float]], list[int]]:
    joints, visible = [[-1.0, -1.0] for _ in range(16)], [0] * 16
    for name, (x, y) in points.items():
        k = MPII_KEYPOINT_NAMES.index(name)
        joints[k], visible[k] = [x, y], 1
    return joints, visible


def test_mpii_converts_one_based_pixels_and_boxes(tmp_path: Path):
    root = tmp_path / "mpii"
    first = mpii_record("a.png", *_joints(right_ankle=(10, 20), head_top=(1, 1)))
    second = mpii_record("a.png", *_joints(left_wrist=(16.5, 12)), centre=(8, 6), scale=0.05)
    third = mpii_record("b.png", *_joints(pelvis=(3, 4)))
    heads = {"0": [1, 2, 7, 10], "1": [0, 0, 3, 4], "2": [5, 5, 5, 5]}
    path = write_mpii(root, [first, second, third], heads=heads)
    source = open_dataset(f"mpii:{root}", task="pose")
    assert source.name == "mpii" and source.ids == ["000000", "000001", "000002"]
    assert source.keypoint_names == MPII_KEYPOINT_NAMES and source.flip_pairs == MPII_FLIP_PAIRS
    assert source.index_problems == [] and source.num_classes == 16
    sample = source[0]
    expected = np.zeros((16, 3), np.float32)
    expected[0] = (9.5, 19.5, 2)  # 1-based pixel 10 spans [9.5, 10.5): its centre is 10 - 0.5
    expected[9] = (0.5, 0.5, 2)  # pixel 1, 1 is segnas pixel 0, 0, centre (0.5, 0.5)
    np.testing.assert_array_equal(sample.keypoints, expected)
    # centre (20, 15) -> (19.5, 14.5), moved down 15 * 0.1; side 200 * 0.1
    np.testing.assert_allclose(sample.box, [9.5, 6.0, 20.0, 20.0], atol=1e-6)
    assert sample.head_size == pytest.approx(0.6 * 10.0)  # diagonal of a 6 x 8 head box
    assert sample.area is None and sample.image_id == "a.png"
    np.testing.assert_array_equal(sample.image, rgb(10))
    assert source[1].keypoints[15].tolist() == [16.0, 11.5, 2.0]
    np.testing.assert_allclose(source[1].box, [2.5, 1.25, 10.0, 10.0], atol=1e-6)
    assert source[1].head_size == pytest.approx(0.6 * 5.0)
    assert source[2].head_size == 0.0 and source[2].image_id == "b.png"
    np.testing.assert_array_equal(source[2].image, rgb(11))
    assert source.files(1) == (str(root / "images" / "a.png"), f"{path}#[1]")


def test_mpii_val_falls_back_to_valid_json_and_head_boxes_are_optional(tmp_path: Path):
    root = tmp_path / "mpii"
    write_mpii(root, [mpii_record("b.png", *_joints(pelvis=(3, 4)))], name="valid.json")
    source = open_dataset(f"mpii:{root}", split="val", task="pose")
    assert source.annotation_file.name == "valid.json" and source[0].head_size is None
    with pytest.raises(DatasetError, match=r"annot/train.json: no such file; expected MPII"):
        open_dataset(f"mpii:{root}", task="pose")


def test_mpii_bad_records_are_named(tmp_path: Path):
    root = tmp_path / "mpii"
    good = _joints(pelvis=(3, 4))
    records = [
        mpii_record("a.png", good[0][:15], good[1]),
        mpii_record("a.png", *good, scale=0),
        mpii_record("a.png", good[0], good[1][:-1]),
        {"image": "a.png", "joints": good[0], "joints_vis": good[1], "scale": 1.0},
        mpii_record("a.png", [*good[0][:15], [1, "x"]], good[1]),
        mpii_record("a.png", *good),
        mpii_record("b.png", *good),
    ]
    path = write_mpii(root, records, heads={str(k): [0, 0, 3, 4] for k in range(6)})
    source = open_dataset(f"mpii:{root}", task="pose")
    assert source.ids == ["000005"]
    found = [(p.path, p.kind, p.message) for p in source.index_problems]
    rest = "; record dropped"
    assert found == [
        (f"{path}#[0]", "bad_annotation", "record 0 (image 'a.png'): field 'joints' has 15 "
         "entries, expected 16 [x, y] pairs" + rest),
        (f"{path}#[1]", "bad_annotation", "record 1 (image 'a.png'): field 'scale' is 0.0, "
         "expected > 0 (person height / 200)" + rest),
        (f"{path}#[2]", "bad_annotation", "record 2 (image 'a.png'): field 'joints_vis' has 15 "
         "values, expected 16 (16 flags of 0/1)" + rest),
        (f"{path}#[3]", "bad_annotation", "record 3 (image 'a.png'): no field 'center'" + rest),
        (f"{path}#[4]", "bad_annotation", "record 4 (image 'a.png'): field 'joints[15][1]' is "
         "a string 'x', expected a number" + rest),
        (f"{path}#[6]", "bad_annotation", "record 6 (image 'b.png'): no head box under key '6' "
         "of the head box file" + rest),
    ]  # fmt: skip
    path.write_text('{"0": []}')
    with pytest.raises(DatasetError, match="train.json: the file holds an object, expected a list"):
        open_dataset(f"mpii:{root}", task="pose")
    path.with_name("train_headboxes.json").write_text("[]")
    path.write_text("[]")
    with pytest.raises(DatasetError, match=r"train_headboxes.json: expected an object \{record"):
        open_dataset(f"mpii:{root}", task="pose")
    with pytest.raises(DatasetError, match=r"no folder .*images; expected MPII"):
        open_dataset(f"mpii:{tmp_path / 'elsewhere'}", task="pose")
    with pytest.raises(DatasetError, match="--classes 17 given for a pose dataset with 16"):
        open_dataset(f"mpii:{root}", task="pose", num_classes=17)
