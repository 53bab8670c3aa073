"""Full training of a final model, in the flat style of torchvision's segmentation references.

`train_final` runs the staged recipe of `segnas.final.recipe`, validating every epoch. After each
epoch it writes, each atomically, into the run directory:

- `checkpoint.pt`: model, optimisers, schedulers, epoch, random state, settings and history;
  `resume=True` continues from it and ends with exactly the weights of an uninterrupted run
  (batch order and augmentation depend on (seed, epoch) only).
- `model.pt`: the deployable network (auxiliary heads dropped) with its class names, palette,
  settings and validation metrics, for `segnas eval`, `predict` and `export`.
- `history.json`: per-epoch loss, metrics, stage, learning rates and seconds.

A hand-designed baseline (`ArchRef.baseline`, e.g. `smp:unet`) trains by the same recipe: SGD
for its encoder, Adam for everything else, the same stages, rates and batch-norm freeze; it has
no auxiliary heads, so the auxiliary-loss weights do not apply (its records show 0).
"""

from __future__ import annotations

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

from segnas.baselines import baseline_info, build_baseline
from segnas.data.dataset import SegmentationDataset, training_loader
from segnas.data.source import SegmentationSource
from segnas.devices import tune_cpu
from segnas.encoders import encoder_identity
from segnas.final.arch_ref import ArchRef
from segnas.final.recipe import EpochPlan, FinalTrainSettings, lr_scale, plan_epochs
from segnas.run_dir import atomic_torch_save, atomic_write_json, check_same, removed_on_failure
from segnas.settings_io import dump_yaml, to_dict
from segnas.space.builder import build_network
from segnas.space.model_file import (
    ModelFileError,
    ModelMeta,
    SegmentationModel,
    load_payload,
    save_model,
)
from segnas.tasks.base import Task, make_task
from segnas.train.fit import statistics_on_source
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


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint, loaded with `weights_only=True`; clear errors for anything else."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training checkpoint to resume from")
    state = load_payload(path, CHECKPOINT_FORMAT, "training checkpoint")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise ModelFileError(f"{path}: incomplete training checkpoint, missing {missing}")
    return state


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
    net: SegmentationModel,
    loader: DataLoader,
    optimizers: list[torch.optim.Optimizer],
    schedulers: list[torch.optim.lr_scheduler.LRScheduler],
    plan: EpochPlan,
    settings: FinalTrainSettings,
    device: torch.device,
    task: Task,
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
            task=task,
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
    task: Task,
) -> dict[str, Any]:
    """Validation figures of `net` over the whole split, as model cards show them."""
    stats = statistics_on_source(
        net,
        source,
        task,
        device,
        crop_size=settings.val_crop_size,
        batch_size=settings.val_batch_size,
        workers=settings.workers,
    )
    return task.card_metrics(stats, list(source.class_names))


def _loader(
    source: SegmentationSource, settings: FinalTrainSettings, task: Task
) -> tuple[SegmentationDataset, DataLoader, torch.Generator]:
    transform = task.train_transform(settings.crop_size, settings.scale_range, settings.flip)
    dataset = SegmentationDataset(source, transform, settings.seed)
    generator = torch.Generator()
    loader = training_loader(dataset, settings.batch_size, settings.workers, generator)
    if len(loader) == 0:
        raise ValueError(
            f"training set has {len(source)} images, fewer than batch_size {settings.batch_size}"
        )
    return dataset, loader, generator


def _warn_cropped_validation(
    val: SegmentationSource, settings: FinalTrainSettings, task: Task, say
) -> None:
    """Dense tasks validated on central crops smaller than the images: figures of part of each
    image. (Pose validates person crops by design.)"""
    size = settings.val_crop_size
    if task.name == "pose" or size is None or not len(val):
        return
    h, w = val[0].image.shape[:2]
    if max(h, w) > size:
        say(
            f"[yellow]warning:[/yellow] validation sees central {size}x{size} crops of "
            f"{h}x{w} images; set val_crop_size=null for whole-image figures"
        )


def _open_run(run_dir: Path, identity: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The checkpoint to resume from (checked against `identity`), or None for a new run."""
    path = run_dir / "checkpoint.pt"
    if resume:
        state = read_checkpoint(path)
        check_same(str(path), state["identity"], identity)
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
) -> tuple[SegmentationModel, list[torch.optim.Optimizer]]:
    """Network (seeded init, or the checkpoint's weights) and its two optimisers: SGD (or Adam,
    `encoder_optimizer`) for the encoder, Adam (or SGD, `decoder_optimizer`) for the decoder
    (for a baseline: everything outside its encoder)."""
    torch.manual_seed(settings.seed)
    weights = None if state is not None or encoder_weights == "none" else encoder_weights
    net: SegmentationModel
    if arch.baseline is not None:
        net = build_baseline(arch.baseline, num_classes, weights, encoder=encoder)
        decoder: nn.Module = net.decoder_part()
    else:
        net = build_network(arch.searched(), num_classes, settings.decoder, encoder, weights)
        decoder = net.decoder
    if state is not None:
        net.load_state_dict(state["model"])
    net.to(device)
    s = settings
    optimizers = [
        encoder_optimizer(net, s.encoder_lr, s.encoder_momentum, s.weight_decay)
        if s.encoder_optimizer == "sgd"
        else torch.optim.Adam(
            net.encoder.parameters(), lr=s.encoder_lr, weight_decay=s.weight_decay, foreach=True
        ),
        decoder_optimizer(decoder, s.decoder_lr, s.weight_decay)
        if s.decoder_optimizer == "adam"
        else torch.optim.SGD(
            decoder.parameters(),
            lr=s.decoder_lr,
            momentum=s.decoder_momentum,
            weight_decay=s.weight_decay,
            foreach=True,
        ),
    ]
    return net, optimizers


def _progress(console: Console, label: str) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"loss {{task.fields[loss]}}  val {label} {{task.fields[figure]}}"),
        TimeRemainingColumn(),
        console=console,
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _epoch_line(record: dict[str, Any], epochs: int, task: Task) -> str:
    key, label = task.headline
    frozen = ", bn frozen" if record["bn_frozen"] else ""
    return (
        f"epoch {record['epoch']}/{epochs} (stage {record['stage']}, aux {record['aux_weight']:g}, "
        f"lr {record['encoder_lr']:.3g}/{record['decoder_lr']:.3g}{frozen}): "
        f"loss {record['loss']:.4f}, val {label} {_fmt(record[key])} "
        f"({record['seconds']:.0f} s + {record['val_seconds']:.0f} s)"
    )


def _save_epoch(
    run_dir: Path,
    net: SegmentationModel,
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
    summary = {
        "arch": meta.info["arch"],
        "genotype": meta.genotype,
        "dataset": identity["dataset"],
        **(
            {}
            if meta.task == "segmentation"
            else {"task": {"name": meta.task, **meta.task_options}}
        ),
    }
    atomic_write_json(run_dir / "history.json", {**summary, "epochs": history}, indent=1)


@dataclass(frozen=True)
class FinalInputs:
    """What one final training is about: the design, its data and its encoder. Together with
    the settings they are the run's identity, checked when it resumes."""

    arch: ArchRef
    train: SegmentationSource
    val: SegmentationSource
    dataset: str
    """The spec both splits came from."""
    encoder: str = "mobilenet_v2"
    encoder_weights: str = "imagenet"
    task: Task | None = None
    """What the network learns; None: segmentation of the training set's classes."""

    @property
    def resolved_task(self) -> Task:
        if self.task is not None:
            return self.task
        return make_task("segmentation", self.train.num_classes, self.train.background_index)

    def identity(self, settings: FinalTrainSettings) -> dict[str, Any]:
        task = self.resolved_task
        extra = {} if task.name == "segmentation" else {"task": task.name, **task.options()}
        return {
            "genotype": self.arch.design,
            "dataset": self.dataset,
            "train_data": self.train.describe(),
            "val_data": self.val.describe(),
            "encoder": encoder_identity(self.encoder, self.encoder_weights),
            "settings": to_dict(settings),
            **({"task": extra} if extra else {}),
        }

    def model_info(self, settings: FinalTrainSettings) -> dict[str, Any]:
        """The model file's `info`, less the figures of the epoch it was saved after."""
        return {
            "train_config": to_dict(settings),
            "dataset": self.dataset,
            "epochs_planned": settings.epochs,
            "arch": self.arch.text,
            "arch_origin": self.arch.origin,
            "encoder_weights": self.encoder_weights,
            "palette": self.train.palette.tolist(),
        }


@dataclass
class _Training:
    """A training set up and ready for its next epoch (new, or restored from a checkpoint)."""

    net: SegmentationModel
    optimizers: list[torch.optim.Optimizer]
    schedulers: list[torch.optim.lr_scheduler.LambdaLR]
    dataset: SegmentationDataset
    loader: DataLoader
    generator: torch.Generator
    history: list[dict[str, Any]]


def _set_up(
    inputs: FinalInputs,
    settings: FinalTrainSettings,
    state: dict[str, Any] | None,
    device: torch.device,
) -> _Training:
    """Network, optimisers, schedulers and data loader; a checkpoint's states restored."""
    net, optimizers = _build(
        inputs.arch,
        inputs.resolved_task.out_channels,
        settings,
        inputs.encoder,
        inputs.encoder_weights,
        state,
        device,
    )
    dataset, loader, generator = _loader(inputs.train, settings, inputs.resolved_task)
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
    return _Training(net, optimizers, schedulers, dataset, loader, generator, history)


def _run_epoch(
    run: _Training,
    plan: EpochPlan,
    inputs: FinalInputs,
    settings: FinalTrainSettings,
    device: torch.device,
    on_step: Callable[[float], None],
) -> dict[str, Any]:
    """Train one epoch of the plan, validate, and return its history record."""
    lrs = [opt.param_groups[0]["lr"] for opt in run.optimizers]
    run.generator.manual_seed(settings.seed * 1_000_003 + plan.epoch)
    run.dataset.set_epoch(plan.epoch)
    begin = time.perf_counter()
    task = inputs.resolved_task
    loss = train_one_epoch(
        run.net, run.loader, run.optimizers, run.schedulers, plan, settings, device, task, on_step
    )
    trained = time.perf_counter() - begin
    metrics = evaluate(run.net, inputs.val, settings, device, task)
    return {
        "epoch": plan.epoch + 1,
        "stage": plan.stage + 1,
        "aux_weight": 0.0 if inputs.arch.baseline else plan.aux_weight,  # no auxiliary heads
        "bn_frozen": plan.bn_frozen,
        "encoder_lr": lrs[0],
        "decoder_lr": lrs[1],
        "loss": loss,
        **metrics,
        "seconds": trained,
        "val_seconds": time.perf_counter() - begin - trained,
    }


def _model_meta(
    inputs: FinalInputs, settings: FinalTrainSettings, record: dict[str, Any]
) -> ModelMeta:
    """The model file's header after the epoch `record` describes."""
    task = inputs.resolved_task
    metrics = {k: record[k] for k in task.metric_keys}
    info = {**inputs.model_info(settings), "metrics": metrics, "epochs": record["epoch"]}
    baseline = inputs.arch.baseline
    if baseline is not None:
        info["baseline"] = baseline_info(baseline)
    return ModelMeta(
        inputs.arch.design,
        inputs.train.num_classes,
        0 if baseline else settings.decoder.channels,
        0 if baseline else settings.decoder.repeats,
        "none",
        encoder=inputs.encoder,
        class_names=list(inputs.train.class_names),
        info=info,
        task=task.name,
        task_options=task.options(),
    )


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
    task: Task | None = None,
) -> FinalRun:
    """Train `arch` (a found design or a baseline, `resolve_arch("smp:unet")`) on `train` by the
    staged recipe, validating on `val` after every epoch.

    `dataset` is the spec both splits came from (recorded, and checked on resume). With
    `resume`, `run_dir/checkpoint.pt` must come from the same design, data, encoder and settings.
    `on_epoch` gets each epoch's history record once the epoch's files are written. A failure
    before the first epoch starts removes whatever this call added to `run_dir`.
    """
    inputs = FinalInputs(arch, train, val, dataset, encoder, encoder_weights, task)
    return train_final_run(
        inputs, settings, Path(run_dir), device, resume=resume, console=console, on_epoch=on_epoch
    )


def train_final_run(
    inputs: FinalInputs,
    settings: FinalTrainSettings,
    run_dir: Path,
    device: torch.device,
    *,
    resume: bool = False,
    console: Console | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> FinalRun:
    """`train_final` with its inputs grouped: open the run, set up, then epoch after epoch
    train, validate and save."""
    tune_cpu()
    console = console or Console()
    identity = inputs.identity(settings)
    state = _open_run(run_dir, identity, resume)
    with removed_on_failure(run_dir):
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_yaml(settings, run_dir / "config.yaml")
        _warn_cropped_validation(inputs.val, settings, inputs.resolved_task, console.print)
        run = _set_up(inputs, settings, state, device)
    if state is not None:
        console.print(f"resuming {run_dir} after epoch {len(run.history)}/{settings.epochs}")
    steps = len(run.loader)
    key, label = inputs.resolved_task.headline
    with _progress(console, label) as progress:
        task = progress.add_task(
            "training",
            total=settings.epochs * steps,
            completed=len(run.history) * steps,
            loss="-",
            figure=_fmt(run.history[-1][key]) if run.history else "-",
        )
        for plan in plan_epochs(settings)[len(run.history) :]:
            progress.update(
                task, description=f"epoch {plan.epoch + 1}/{settings.epochs} stage {plan.stage + 1}"
            )
            record = _run_epoch(
                run,
                plan,
                inputs,
                settings,
                device,
                on_step=lambda mean: progress.update(task, advance=1, loss=f"{mean:.4f}"),
            )
            run.history.append(record)
            meta = _model_meta(inputs, settings, record)
            _save_epoch(
                run_dir, run.net, meta, run.optimizers, run.schedulers, identity, run.history
            )
            progress.update(task, figure=_fmt(record[key]))
            progress.console.print(_epoch_line(record, settings.epochs, inputs.resolved_task))
            if on_epoch is not None:
                on_epoch(record)
    keys = inputs.resolved_task.metric_keys
    return FinalRun(run_dir, {k: run.history[-1][k] for k in keys}, run.history)
