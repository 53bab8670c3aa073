"""The teacher for distillation: trained on the dataset once and cached, or the user's model.

The default teacher is a segnas network with a wide decoder (the paper's arch0 connectivity,
C=96, R=2) on the pretrained encoder, trained end to end for longer than any candidate, so its
logits carry more than the labels do. `--teacher FILE` takes a segnas model file or, as
`torchvision:NAME:FILE`, a torchvision segmentation model with its checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision.models import segmentation as tv_segmentation

from segnas.data.builtin.source import default_cache_root
from segnas.data.source import SegmentationSource
from segnas.data.spec import open_dataset
from segnas.encoders import build_encoder
from segnas.genotype import resolve
from segnas.settings_io import FieldError, require
from segnas.space.builder import DecoderSettings, build_network
from segnas.space.model_file import ModelFileError, ModelMeta, load_model, save_model
from segnas.tasks.base import Task, make_task
from segnas.train.array_cache import cache_key
from segnas.train.fit import FitSettings, fit, statistics_on_source
from segnas.weights import load_state_dict_file, load_strict, sha256_of


@dataclass(frozen=True)
class TeacherSettings:
    """The default teacher's design and training."""

    design: str = "arch0"
    """Known design or JSON encoding of the teacher's decoder."""
    channels: int = 96
    """Decoder width (wider than any candidate)."""
    repeats: int = 2
    """Separable-conv repeats."""
    fit: FitSettings = field(default_factory=lambda: FitSettings(epochs=3, batch_size=32))
    """End-to-end training of the teacher."""

    def __post_init__(self) -> None:
        try:
            resolve(self.design)
        except ValueError as error:
            raise FieldError("design", self.design, f"a known design or JSON ({error})") from None
        require(self.channels >= 1, "channels", self.channels, ">= 1")
        require(self.repeats >= 1, "repeats", self.repeats, ">= 1")


def train_teacher(
    train: SegmentationSource,
    val: SegmentationSource | None,
    settings: TeacherSettings,
    device: torch.device,
    task: Task,
    encoder_weights: str | None = "imagenet",
    on_epoch=None,
) -> tuple[nn.Module, ModelMeta]:
    """Train the default teacher for `task`; its validation figures go into the metadata."""
    genotype = resolve(settings.design)
    config = DecoderSettings(settings.channels, settings.repeats, "none")
    net = build_network(
        genotype,
        task.out_channels,
        config,
        encoder=build_encoder("mobilenet_v2", encoder_weights),
    )
    losses = fit(net, train, task, settings.fit, device, on_epoch)
    info: dict = {"losses": losses, "settings": asdict(settings), "data": train.describe()}
    if val is not None:
        stats = statistics_on_source(net, val, task, device, crop_size=settings.fit.crop_size)
        info["val"] = {**task.metrics(stats), "reward": task.reward(stats)}
    meta = ModelMeta(
        str(genotype),
        train.num_classes,
        config.channels,
        config.repeats,
        config.aux_mode,
        class_names=list(train.class_names),
        info=info,
        task=task.name,
        task_options=task.options(),
    )
    return net.eval(), meta


def ensure_teacher(
    train: SegmentationSource,
    val: SegmentationSource | None,
    settings: TeacherSettings,
    cache_root: Path,
    device: torch.device,
    task: Task,
    on_epoch=None,
) -> tuple[Path, bool]:
    """The cached default teacher for this data, task and settings, trained when missing."""
    parts = {"data": train.describe(), "settings": asdict(settings), "version": 1}
    if task.name != "segmentation":
        parts["task"] = {"name": task.name, **task.options()}
    path = Path(cache_root) / "teachers" / f"{cache_key(parts)}.pt"
    if path.is_file():
        return path, True
    net, meta = train_teacher(train, val, settings, device, task, on_epoch=on_epoch)
    save_model(path, net, meta)
    return path, False


def load_teacher(
    spec: str, num_classes: int, device: torch.device, task: str = "segmentation"
) -> tuple[nn.Module, str]:
    """A teacher module and its cache identity from `FILE` or `torchvision:NAME:FILE`."""
    if spec.startswith("torchvision:"):
        if task != "segmentation":
            raise ModelFileError(f"--teacher {spec}: torchvision teachers are for segmentation")
        _, name, file = spec.split(":", 2)
        if name not in tv_segmentation.__dict__ or not callable(tv_segmentation.__dict__[name]):
            raise ModelFileError(f"--teacher {spec}: no torchvision segmentation model {name!r}")
        model = tv_segmentation.__dict__[name](
            weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=None
        )
        state = load_state_dict_file(Path(file))
        state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
        load_strict(model, state, file)
        return model.to(device).eval(), f"torchvision:{name}:{sha256_of(Path(file))}"
    net, meta = load_model(Path(spec), device)
    if meta.task != task:
        raise ModelFileError(f"--teacher {spec}: a {meta.task} model, the search is for {task}")
    if meta.num_classes != num_classes:
        raise ModelFileError(
            f"--teacher {spec}: predicts {meta.num_classes} classes, the data has {num_classes}"
        )
    return net.for_inference(), f"segnas:{sha256_of(Path(spec))}"  # a design or a baseline


def resolve_teacher(
    spec: str,
    data: str,
    classes: int | None,
    train: SegmentationSource,
    device: torch.device,
    settings: TeacherSettings | None = None,
    say=print,
    task: Task | None = None,
) -> tuple[nn.Module | None, str | None]:
    """(module, cache identity) for a `--teacher` value: none, auto or a file spec.

    `auto` trains the default teacher on `data` once (validating on its val split) and reuses
    the cached file afterwards.
    """
    if spec == "none":
        return None, None
    if task is None:
        task = make_task("segmentation", train.num_classes, train.background_index)
    if spec == "auto":
        val = open_dataset(data, split="val", num_classes=classes, task=task.name)
        start = time.perf_counter()
        path, hit = ensure_teacher(
            train,
            val,
            settings or TeacherSettings(),
            default_cache_root(),
            device,
            task,
            on_epoch=lambda e, loss: say(f"  teacher epoch {e + 1}: loss {loss:.3f}"),
        )
        state = "cached" if hit else "trained"
        say(f"teacher {path}: {state} ({time.perf_counter() - start:.0f} s)")
        spec = str(path)
    return load_teacher(spec, train.num_classes, device, task.name)
