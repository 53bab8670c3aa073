"""Full training of a final model, in the flat style of torchvision's segmentation references.

`train_final` runs the staged recipe of `segnas.final.recipe`, validating every epoch. After each
epoch it writes, each atomically, into the run directory:

- `checkpoint.pt`: model, optimisers, schedulers, epoch, random state, settings and history;
  `resume=True` continues from it and ends with exactly the weights of an uninterrupted run
  (batch order and augmentation depend on (seed, epoch) only).
- `model.pt`: the deployable network (auxiliary heads dropped) with its class names, palette,
  settings and validation metrics, for `segnas eval`, `predict` and `export`.
- `history.json`: per-epoch loss, metrics, stage, learning rates and seconds.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.utils.data import DataLoader

from segnas.data.dataset import SegmentationDataset, training_loader
from segnas.data.source import SegmentationSource
from segnas.data.transforms import TrainTransform
from segnas.devices import tune_cpu
from segnas.encoders import encoder_identity
from segnas.final.arch_ref import ArchRef
from segnas.final.recipe import EpochPlan, FinalTrainSettings, lr_scale, plan_epochs
from segnas.run_dir import atomic_torch_save
from segnas.search.loop import ResumeError
from segnas.settings_io import dump_yaml, to_dict
from segnas.space.builder import DecoderSettings, SegmentationNet, build_network
from segnas.space.model_file import ModelFileError, ModelMeta, load_payload, save_model
from segnas.train.fit import confusion_on_source
from segnas.train.metrics import SegMetrics, metrics_from_confusion
from segnas.train.stages import decoder_optimizer, encoder_optimizer, train_steps

CHECKPOINT_FORMAT = "segnas-final-train/1"
CHECKPOINT_KEYS = ("epoch", "model", "optimizers", "schedulers", "rng", "identity", "history")
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class FinalRun:
    """What a finished (or resumed-and-finished) training leaves behind."""

    run_dir: Path
    metrics: dict[str, Any]
    """Validation figures after the last epoch, as in the model file's `info["metrics"]`."""
    history: list[dict[str, Any]]
    """One record per epoch (1-based `epoch` and `stage`)."""

    @property
    def model_path(self) -> Path:
        return self.run_dir / "model.pt"

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"


class _BatchNormFrozen(nn.Module):
    """`net` with its batch-norm layers kept in eval mode: statistics frozen, affine params still
    trained. `train_steps` calls `train()` on every call; this view re-freezes after it."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def train(self, mode: bool = True) -> _BatchNormFrozen:
        super().train(mode)
        for module in self.net.modules():
            if isinstance(module, BATCH_NORMS):
                module.eval()
        return self

    def forward(self, x: torch.Tensor) -> Any:
        return self.net(x)


def card_metrics(metrics: SegMetrics, class_names: list[str]) -> dict[str, Any]:
    """The model-card form: short keys, per-class IoU by name, NaN (class absent) as None."""

    def num(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {
        "miou": num(metrics.mean_iou),
        "fwiou": num(metrics.fw_iou),
        "pixel_acc": num(metrics.pixel_accuracy),
        "mean_acc": num(metrics.mean_accuracy),
        "per_class_iou": {n: num(v) for n, v in zip(class_names, metrics.per_class_iou)},
    }


def _write_json(payload: Any, path: Path) -> None:
    """Write JSON so that a reader (or a crash) sees the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint, loaded with `weights_only=True`; clear errors for anything else."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training checkpoint to resume from")
    state = load_payload(path, CHECKPOINT_FORMAT, "training checkpoint")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise ModelFileError(f"{path}: incomplete training checkpoint, missing {missing}")
    return state


def _check_identity(path: Path, stored: dict[str, Any], current: dict[str, Any]) -> None:
    differ = [
        f"{key}: run has {stored.get(key)!r}, now {current.get(key)!r}"
        for key in current
        if stored.get(key) != current.get(key) and key != "settings"
    ]
    old, new = stored.get("settings", {}), current["settings"]
    differ += [
        f"settings.{key}: run has {old.get(key)!r}, now {new.get(key)!r}"
        for key in new
        if old.get(key) != new.get(key)
    ]
    if differ:
        raise ResumeError(f"{path}: cannot resume with other inputs: " + "; ".join(differ))


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def train_one_epoch(
    net: SegmentationNet,
    loader: DataLoader,
    optimizers: list[torch.optim.Optimizer],
    schedulers: list[torch.optim.lr_scheduler.LRScheduler],
    plan: EpochPlan,
    settings: FinalTrainSettings,
    device: torch.device,
    on_step: Callable[[float], None] | None = None,
) -> float:
    """One pass over `loader`; returns the mean loss (`on_step` gets the running mean)."""
    model = _BatchNormFrozen(net) if plan.bn_frozen else net
    total, count = 0.0, 0
    for images, masks in loader:  # (B, 3, H, W), (B, H, W)
        loss = train_steps(
            model,
            lambda idx, images=images: images[idx].to(device, non_blocking=True),
            masks,
            optimizers,
            [torch.arange(len(masks))],
            aux_weight=plan.aux_weight,
            grad_clip=settings.grad_clip,
            polyak=None,
            stage=f"epoch {plan.epoch + 1}",
        )
        for scheduler in schedulers:
            scheduler.step()
        total, count = total + loss, count + 1
        if on_step is not None:
            on_step(total / count)
    return total / max(count, 1)


def evaluate(
    net: nn.Module,
    source: SegmentationSource,
    settings: FinalTrainSettings,
    device: torch.device,
) -> SegMetrics:
    """Validation figures of `net` over the whole split."""
    cm = confusion_on_source(
        net,
        source,
        device,
        crop_size=settings.val_crop_size,
        batch_size=settings.val_batch_size,
        workers=settings.workers,
    )
    return metrics_from_confusion(cm)


def _loader(
    source: SegmentationSource, settings: FinalTrainSettings
) -> tuple[SegmentationDataset, DataLoader, torch.Generator]:
    transform = TrainTransform(settings.crop_size, settings.scale_range, settings.flip)
    dataset = SegmentationDataset(source, transform, settings.seed)
    generator = torch.Generator()
    loader = training_loader(dataset, settings.batch_size, settings.workers, generator)
    if len(loader) == 0:
        raise ValueError(
            f"training set has {len(source)} images, fewer than batch_size {settings.batch_size}"
        )
    return dataset, loader, generator


def _warn_cropped_validation(val: SegmentationSource, settings: FinalTrainSettings, say) -> None:
    size = settings.val_crop_size
    if size is not None and len(val) and max(val[0].mask.shape) > size:
        h, w = val[0].mask.shape
        say(
            f"[yellow]warning:[/yellow] validation sees central {size}x{size} crops of "
            f"{h}x{w} images; set val_crop_size=null for whole-image figures"
        )


def _open_run(run_dir: Path, identity: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The checkpoint to resume from (checked against `identity`), or None for a new run."""
    path = run_dir / "checkpoint.pt"
    if resume:
        state = read_checkpoint(path)
        _check_identity(path, state["identity"], identity)
        return state
    if path.exists():
        raise FileExistsError(
            f"{run_dir} already holds a training run; resume it or choose another run directory"
        )
    return None


def _build(
    arch: ArchRef,
    num_classes: int,
    settings: FinalTrainSettings,
    encoder: str,
    encoder_weights: str,
    state: dict[str, Any] | None,
    device: torch.device,
) -> tuple[SegmentationNet, list[torch.optim.Optimizer]]:
    """Network (seeded init, or the checkpoint's weights) and its two optimisers."""
    torch.manual_seed(settings.seed)
    decoder = DecoderSettings(settings.channels, settings.repeats, settings.aux_mode)
    weights = None if state is not None or encoder_weights == "none" else encoder_weights
    net = build_network(arch.genotype, num_classes, decoder, encoder, weights)
    if state is not None:
        net.load_state_dict(state["model"])
    net.to(device)
    s = settings
    optimizers = [
        encoder_optimizer(net, s.encoder_lr, s.encoder_momentum, s.weight_decay),
        decoder_optimizer(net.decoder, s.decoder_lr, s.weight_decay),
    ]
    return net, optimizers


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  val mIoU {task.fields[miou]}"),
        TimeRemainingColumn(),
        console=console,
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    miou = _fmt(record["miou"])
    frozen = ", bn frozen" if record["bn_frozen"] else ""
    return (
        f"epoch {record['epoch']}/{epochs} (stage {record['stage']}, aux {record['aux_weight']:g}, "
        f"lr {record['encoder_lr']:.3g}/{record['decoder_lr']:.3g}{frozen}): "
        f"loss {record['loss']:.4f}, val mIoU {miou} "
        f"({record['seconds']:.0f} s + {record['val_seconds']:.0f} s)"
    )


def _save_epoch(
    run_dir: Path,
    net: SegmentationNet,
    meta: ModelMeta,
    optimizers: list[torch.optim.Optimizer],
    schedulers: list[torch.optim.lr_scheduler.LRScheduler],
    identity: dict[str, Any],
    history: list[dict[str, Any]],
) -> None:
    """Model file, checkpoint and history of the epoch just finished, each written atomically."""
    save_model(run_dir / "model.pt", net.for_inference(), meta)
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "epoch": len(history),
        "model": net.state_dict(),
        "optimizers": [opt.state_dict() for opt in optimizers],
        "schedulers": [s.state_dict() for s in schedulers],
        "rng": _rng_state(next(net.parameters()).device),
        "settings": identity["settings"],
        "identity": identity,
        "history": history,
    }
    atomic_torch_save(checkpoint, run_dir / "checkpoint.pt")
    summary = {"arch": meta.info["arch"], "genotype": meta.genotype, "dataset": identity["dataset"]}
    _write_json({**summary, "epochs": history}, run_dir / "history.json")


def train_final(
    arch: ArchRef,
    train: SegmentationSource,
    val: SegmentationSource,
    settings: FinalTrainSettings,
    run_dir: Path,
    device: torch.device,
    *,
    dataset: str,
    encoder: str = "mobilenet_v2",
    encoder_weights: str = "imagenet",
    resume: bool = False,
    console: Console | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> FinalRun:
    """Train `arch` on `train` by the staged recipe, validating on `val` after every epoch.

    `dataset` is the spec both splits came from (recorded, and checked on resume). With
    `resume`, `run_dir/checkpoint.pt` must come from the same design, data, encoder and settings.
    `on_epoch` gets each epoch's history record once the epoch's files are written.
    """
    tune_cpu()
    console = console or Console()
    run_dir = Path(run_dir)
    identity = {
        "genotype": str(arch.genotype),
        "dataset": dataset,
        "train_data": train.describe(),
        "val_data": val.describe(),
        "encoder": encoder_identity(encoder, encoder_weights),
        "settings": to_dict(settings),
    }
    state = _open_run(run_dir, identity, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_yaml(settings, run_dir / "config.yaml")
    _warn_cropped_validation(val, settings, console.print)
    net, optimizers = _build(
        arch, train.num_classes, settings, encoder, encoder_weights, state, device
    )
    data, loader, generator = _loader(train, settings)
    steps = len(loader)
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_scale(settings, step, steps))
        for opt in optimizers
    ]
    history: list[dict[str, Any]] = []
    if state is not None:
        for obj, saved in zip(optimizers + schedulers, state["optimizers"] + state["schedulers"]):
            obj.load_state_dict(saved)
        _set_rng_state(state["rng"], device)
        history = list(state["history"])
        console.print(f"resuming {run_dir} after epoch {len(history)}/{settings.epochs}")
    class_names = list(train.class_names)
    info = {
        "train_config": to_dict(settings),
        "dataset": dataset,
        "epochs_planned": settings.epochs,
        "arch": arch.text,
        "arch_origin": arch.origin,
        "encoder_weights": encoder_weights,
        "palette": train.palette.tolist(),
    }
    with _progress(console) as progress:
        task = progress.add_task(
            "training",
            total=settings.epochs * steps,
            completed=len(history) * steps,
            loss="-",
            miou=_fmt(history[-1]["miou"]) if history else "-",
        )
        for plan in plan_epochs(settings)[len(history) :]:
            progress.update(
                task, description=f"epoch {plan.epoch + 1}/{settings.epochs} stage {plan.stage + 1}"
            )
            lrs = [opt.param_groups[0]["lr"] for opt in optimizers]
            generator.manual_seed(settings.seed * 1_000_003 + plan.epoch)
            data.set_epoch(plan.epoch)
            begin = time.perf_counter()
            loss = train_one_epoch(
                net,
                loader,
                optimizers,
                schedulers,
                plan,
                settings,
                device,
                on_step=lambda mean: progress.update(task, advance=1, loss=f"{mean:.4f}"),
            )
            trained = time.perf_counter() - begin
            metrics = card_metrics(evaluate(net, val, settings, device), class_names)
            history.append(
                {
                    "epoch": plan.epoch + 1,
                    "stage": plan.stage + 1,
                    "aux_weight": plan.aux_weight,
                    "bn_frozen": plan.bn_frozen,
                    "encoder_lr": lrs[0],
                    "decoder_lr": lrs[1],
                    "loss": loss,
                    **metrics,
                    "seconds": trained,
                    "val_seconds": time.perf_counter() - begin - trained,
                }
            )
            meta = ModelMeta(
                str(arch.genotype),
                train.num_classes,
                settings.channels,
                settings.repeats,
                "none",
                encoder=encoder,
                class_names=class_names,
                info={**info, "metrics": metrics, "epochs": plan.epoch + 1},
            )
            _save_epoch(run_dir, net, meta, optimizers, schedulers, identity, history)
            progress.update(task, miou=_fmt(metrics["miou"]))
            progress.console.print(_epoch_line(history[-1], settings.epochs))
            if on_epoch is not None:
                on_epoch(history[-1])
    keys = ("miou", "fwiou", "pixel_acc", "mean_acc", "per_class_iou")
    return FinalRun(run_dir, {k: history[-1][k] for k in keys}, history)
