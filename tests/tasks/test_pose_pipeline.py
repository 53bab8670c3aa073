"""Pose through the search's data path: person-crop transforms give target tables that match
the crop's affine, and a 2-candidate pose search on tiny built-in data scores PCKh."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segnas.cli import main
from segnas.data import open_dataset
from segnas.data.pose_transforms import apply_affine
from segnas.final.inference import PlainNet
from segnas.search.store import SearchStore
from segnas.space.model_file import load_model
from segnas.tasks import task_for_source
from segnas.tasks.pose import PoseTask, split_target

DATA = "builtin:seed=0,size=64,train=24,val=8"


def test_targets_follow_the_crop_affine():
    source = open_dataset(DATA, task="pose")
    task = task_for_source("pose", source)
    assert isinstance(task, PoseTask)
    assert task.out_channels == len(source.keypoint_names) == 8
    assert task.settings.flip_pairs == tuple(source.flip_pairs)
    sample = source[0]
    transform = task.eval_transform(32)
    image, table = transform(sample, None)
    assert tuple(image.shape) == (3, 32, 32)
    points, head, area, size = split_target(table[None])
    affine = transform.crops.affine(sample)
    expected = apply_affine(sample.keypoints[:, :2], affine)
    np.testing.assert_allclose(points[0, :, :2].numpy(), expected, atol=1e-4)
    zoom = math.sqrt(abs(np.linalg.det(affine[:, :2])))
    assert head.item() == pytest.approx(sample.head_size * zoom, rel=1e-5)
    assert area.item() == pytest.approx(sample.area * zoom**2, rel=1e-5)
    assert size == (32, 32)
    with pytest.raises(ValueError, match="input size"):
        task.eval_transform(None)
    rng = np.random.default_rng(0)
    first = task.train_transform(32)(sample, rng)[1]
    assert first.shape == table.shape and not np.array_equal(first.numpy(), table.numpy())


@pytest.mark.slow  # make test: the training test below runs pose end to end
def test_pose_search_scores_pckh(fresh_segnas_cache: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "search"
    args = ["search", "--data", DATA, "--budget", "2", "--device", "cpu"]
    args += ["--set", "task=pose", "--set", "teacher=none", "--set", "rescore_top=0"]
    args += ["--set", "generation=2", "--set", "evaluation.stage1.epochs=2"]
    assert main([*args, "--run-dir", str(run_dir)]) == 0
    store = SearchStore(run_dir / "search.sqlite")
    rows = store.candidates()
    store.close()
    assert [r["status"] for r in rows] == ["done", "done"], [r["failure"] for r in rows]
    for row in rows:  # PCKh figures, and the reward is PCKh@0.5 (the default)
        metrics = row["stage2_metrics"]
        assert set(metrics) == {"pckh", "pckh_0.1", "mean_oks", "per_joint_pckh"}
        assert len(metrics["per_joint_pckh"]) == 8
        assert row["reward"] == pytest.approx(metrics["pckh"])
        assert 0 <= row["reward"] <= 1 and metrics["pckh_0.1"] <= metrics["pckh"]
    assert "task: pose" in (run_dir / "config.yaml").read_text()


def test_pose_training_resumes_eval_predict_export(
    fresh_segnas_cache: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import segnas.final.train as final_train
    from tests.fixtures.kills import Killed, dies_on_call

    run_dir = tmp_path / "train"
    train = ["train", "arch0", "--data", DATA, "--task", "pose", "--device", "cpu"]
    train += ["--run-dir", str(run_dir), "--set", "decoder.channels=8"]
    train += ["--set", "decoder.repeats=1", "--set", "batch_size=8"]
    train += ["--set", "stage_epochs=[1,1]", "--set", "aux_weights=[0.15,0.15]"]
    monkeypatch.setattr(final_train, "evaluate", dies_on_call(final_train.evaluate, 2))
    with pytest.raises(Killed):  # dies in the second epoch's validation
        main(train)
    monkeypatch.undo()
    assert main([*train, "--resume"]) == 0
    history = json.loads((run_dir / "history.json").read_text())
    epochs = history["epochs"]
    assert len(epochs) == 2
    lrs = [e["decoder_lr"] for e in epochs]
    assert lrs[1] == pytest.approx(lrs[0] * 0.1)  # the pose recipe divides by 10 per stage
    assert "PCKh disc_centre" in capsys.readouterr().out
    model = str(run_dir / "model.pt")
    capsys.readouterr()
    assert main(["eval", model, "--data", DATA, "--device", "cpu", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    metrics = payload["metrics"]
    assert payload["task"] == "pose" and payload["images"] == 8  # the val split's instances
    assert metrics["boxes"] == "ground truth" and len(metrics["per_joint_pckh"]) == 8
    assert 0 <= metrics["pckh_0.1"] <= metrics["pckh"] <= 1
    assert set(metrics["coco"]) >= {"AP", "AP50", "AP75", "AR"}
    picture = tmp_path / "scene.png"
    Image.fromarray(open_dataset(DATA, task="pose")[0].image).save(picture)
    out = tmp_path / "out"
    assert main(["predict", model, str(picture), "-o", str(out), "--device", "cpu"]) == 0
    rows = json.loads((out / "scene_keypoints.json").read_text())
    assert list(rows) == list(open_dataset(DATA, task="pose").keypoint_names)
    assert all(len(row) == 3 for row in rows.values())  # x, y, score
    with Image.open(out / "scene_pose.png") as drawn:
        assert drawn.size == (64, 64)
    exported = tmp_path / "pose.pt"
    export = ["export", model, "--format", "torchscript", "-o", str(exported), "--size", "64"]
    assert main([*export, "--latency-runs", "0", "--device", "cpu"]) == 0
    card = json.loads(exported.with_name(exported.name + ".card.json").read_text())
    assert card["task"] == "pose" and card["task_options"]["num_keypoints"] == 8
    net, _ = load_model(run_dir / "model.pt")
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        reference = PlainNet(net).eval()(x).numpy()
        got = torch.jit.load(str(exported))(x).numpy()
    assert got.shape == (1, 8, 64, 64)  # heatmaps, upsampled to the input like every task
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=1e-4)


def test_coco_keypoints_train_and_eval_with_ground_truth_boxes(
    fresh_segnas_cache: Path, tmp_path: Path, capsys
) -> None:
    """17 COCO keypoints end to end on a fixture: training crops persons by their boxes, eval
    reports COCO AP/AR (pycocotools) on the ground-truth boxes; no head sizes, so no PCKh."""
    from tests.fixtures.posefiles import coco_annotation, coco_points, write_coco

    def people(split: str) -> None:
        annotations = [
            coco_annotation(
                n + 1,
                1 + n % 2,
                coco_points(nose=(10 + n, 12, 2), left_eye=(12 + n, 10, 2), left_ear=(8, 9, 1)),
                bbox=[4.0 + n, 4.0, 20.0, 30.0],
                area=400.0,
            )
            for n in range(4)
        ]
        sizes = {1: (48, 40), 2: (48, 40)}
        write_coco(tmp_path / "coco", annotations, split=split, sizes=sizes)

    people("train")
    people("val")
    data = f"coco:{tmp_path / 'coco'}"
    run_dir = tmp_path / "train"
    train = ["train", "arch0", "--data", data, "--task", "pose", "--device", "cpu"]
    train += ["--run-dir", str(run_dir), "--set", "decoder.channels=8", "--set", "batch_size=2"]
    train += ["--set", "stage_epochs=[1]", "--set", "aux_weights=[0.15]", "--set", "crop_size=32"]
    train += ["--set", "val_crop_size=32", "--set", "decoder.repeats=1"]
    assert main(train) == 0
    capsys.readouterr()
    model = str(run_dir / "model.pt")
    assert main(["eval", model, "--data", data, "--device", "cpu", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["images"] == 4 and payload["metrics"]["boxes"] == "ground truth"
    assert "pckh" not in payload["metrics"]  # COCO has no head boxes
    coco = payload["metrics"]["coco"]
    assert set(coco) == {"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}
    assert 0 <= coco["AP"] <= 1 and 0 <= coco["AR"] <= 1
