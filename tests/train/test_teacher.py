"""Teachers: the default one trains, saves and loads; a torchvision model loads; bad files don't."""

from __future__ import annotations

import pickle

import pytest
import torch
from torchvision.models import segmentation

from segnas.space.model_file import ModelFileError, load_model, save_model
from segnas.tasks import make_task
from segnas.train.fit import FitSettings
from segnas.train.teacher import TeacherSettings, load_teacher, train_teacher

TINY = TeacherSettings(channels=16, repeats=1, fit=FitSettings(epochs=1, batch_size=16))


@pytest.fixture(scope="module")
def teacher_file(small_source, tmp_path_factory):
    task = make_task("segmentation", small_source.num_classes, 0)
    net, meta = train_teacher(small_source, small_source, TINY, torch.device("cpu"), task)
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    save_model(path, net, meta)
    return path, net


def test_teacher_round_trips_and_predicts(teacher_file, small_source) -> None:
    path, net = teacher_file
    loaded, identity = load_teacher(str(path), small_source.num_classes, torch.device("cpu"))
    assert identity.startswith("segnas:")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net.eval()(x), atol=1e-5)
    _, meta = load_model(path)
    assert set(meta.info["val"]) >= {"mean_iou", "reward"} and len(meta.info["losses"]) == 1


def test_teacher_with_other_classes_is_refused(teacher_file) -> None:
    with pytest.raises(ModelFileError, match="predicts 9 classes, the data has 4"):
        load_teacher(str(teacher_file[0]), 4, torch.device("cpu"))


def test_torchvision_teacher_loads_from_its_checkpoint(tmp_path) -> None:
    model = segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=5
    )
    file = tmp_path / "lraspp.pth"
    torch.save({"model": model.state_dict()}, file)
    teacher, identity = load_teacher(
        f"torchvision:lraspp_mobilenet_v3_large:{file}", 5, torch.device("cpu")
    )
    assert identity.startswith("torchvision:lraspp_mobilenet_v3_large:")
    assert teacher(torch.randn(1, 3, 64, 64))["out"].shape == (1, 5, 64, 64)


def test_bad_model_files_are_refused(teacher_file, tmp_path) -> None:
    data = teacher_file[0].read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a loadable segnas model file"):
        load_model(truncated)
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"format": "segnas-model/1", "run": print}, f)
    with pytest.raises(ModelFileError, match="not a loadable segnas model file"):
        load_model(evil)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(ModelFileError, match="expected 'segnas-model/1'"):
        load_model(foreign)
