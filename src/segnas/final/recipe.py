"""The full-training recipe of a found design (SPEC section 8, paper section 4.4).

Training runs in stages, one per auxiliary-loss weight (0.3, 0.25, 0.2, 0.15). The learning rates
are halved after each stage; halfway through the last stage the batch-norm statistics freeze and
the rates are halved once more. Within a stage an optional poly schedule decays them.

The defaults are sized for the built-in data on a CPU: `segnas train arch1 --data builtin`
takes a few minutes on two cores. For PASCAL VOC on a GPU, start from the paper's setup::

    --set crop_size=450 --set batch_size=64 --set epochs_per_stage=40 \
    --set val_crop_size=null --set workers=8

(the paper trains 30 / 50 / 100 epochs on COCO+SBD+VOC / SBD+VOC / VOC; equal stages of 30-50
epochs on `voc_aug` are the single-dataset equivalent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FinalTrainSettings:
    """Full training of one design; every default suits the built-in data on a CPU."""

    channels: int = 64
    """Decoder width C (64 for final models, 48 during search)."""
    repeats: int = 2
    """Repeats R of every separable convolution (2 for final models, 1 during search)."""
    aux_mode: Literal["cell", "plain", "none"] = "cell"
    """Auxiliary heads on the block outputs: own cell + classifier (paper), classifier only, or
    none. They supervise training only; the model file leaves them out."""
    aux_weights: tuple[float, ...] = (0.3, 0.25, 0.2, 0.15)
    """Weight of each auxiliary loss, one entry per training stage: the number of entries is the
    number of stages."""
    epochs_per_stage: int = 2
    """Passes over the training set in each stage (built-in data: 2; VOC on a GPU: 30-50)."""
    stage_lr_factor: float = 0.5
    """Learning rates are multiplied by this after each stage."""
    freeze_bn: bool = True
    """Freeze the batch-norm statistics from epoch `epochs_per_stage // 2` of the last stage on
    (0-based): the layers run in eval mode, their affine parameters still train."""
    freeze_lr_factor: float = 0.5
    """Learning rates are multiplied by this once more when the statistics freeze (paper: 0.5)."""
    encoder_lr: float = 1e-3
    """SGD learning rate of the encoder at the start (paper: 1e-3)."""
    encoder_momentum: float = 0.9
    """SGD momentum of the encoder."""
    decoder_lr: float = 3e-3
    """Adam learning rate of the decoder at the start (paper: 3e-3)."""
    poly_power: float = 0.0
    """Within each stage the rates decay as (1 - step / stage_steps) ** power; 0 keeps them
    constant (the paper), 0.9 is the usual poly schedule."""
    weight_decay: float = 1e-5
    """L2 penalty of both optimisers."""
    grad_clip: float = 3.0
    """Gradient-norm clip."""
    batch_size: int = 32
    """Images per step (built-in data on a CPU: 32; VOC: 64 over the GPUs, as in the paper)."""
    crop_size: int = 64
    """Side of the square training crops (built-in data: 64, its image size; VOC: 450)."""
    scale_range: tuple[float, float] = (0.5, 2.0)
    """Random rescaling of each training image, before the crop."""
    flip: bool = True
    """Random horizontal mirroring of training images."""
    val_crop_size: int | None = 64
    """Validation on central crops of this side, padded, in batches: exactly whole-image figures
    when no image is larger (the built-in data: 64). null: every image whole, one at a time,
    which real datasets (VOC, Cityscapes) need."""
    val_batch_size: int = 64
    """Images per validation step when `val_crop_size` is set."""
    workers: int = 0
    """DataLoader worker processes preparing augmented batches (0 on a small CPU machine, where
    they compete with the training threads; 4-8 on a GPU machine)."""
    seed: int = 0
    """Seed of weight init, augmentation and batch order."""

    @property
    def num_stages(self) -> int:
        return len(self.aux_weights)

    @property
    def epochs(self) -> int:
        return self.num_stages * self.epochs_per_stage

    @property
    def freeze_epoch(self) -> int | None:
        """First epoch (0-based) with frozen batch-norm statistics; None when they never freeze."""
        if not self.freeze_bn:
            return None
        return (self.num_stages - 1) * self.epochs_per_stage + self.epochs_per_stage // 2

    def validate(self) -> None:
        if self.channels < 1 or self.repeats < 1:
            raise ValueError(
                f"channels, repeats: got {self.channels}, {self.repeats}, expected >= 1"
            )
        if not self.aux_weights:
            raise ValueError("aux_weights: expected at least one entry (one per stage)")
        for i, weight in enumerate(self.aux_weights):
            if weight < 0:
                raise ValueError(f"aux_weights[{i}]: got {weight}, expected >= 0")
        if self.epochs_per_stage < 1:
            raise ValueError(f"epochs_per_stage: got {self.epochs_per_stage}, expected >= 1")
        for name in ("stage_lr_factor", "freeze_lr_factor"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}: got {getattr(self, name)}, expected in (0, 1]")
        for name in ("encoder_lr", "decoder_lr", "grad_clip"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: got {getattr(self, name)}, expected > 0")
        if not 0 <= self.encoder_momentum < 1:
            raise ValueError(f"encoder_momentum: got {self.encoder_momentum}, expected in [0, 1)")
        if self.poly_power < 0 or self.weight_decay < 0:
            raise ValueError("poly_power and weight_decay: expected >= 0")
        if self.batch_size < 2 or self.val_batch_size < 1:
            raise ValueError(
                f"batch_size: got {self.batch_size}, expected >= 2 (batch norm needs two samples)"
            )
        if self.crop_size < 32:
            raise ValueError(f"crop_size: got {self.crop_size}, expected >= 32 (stride-32 taps)")
        if self.val_crop_size is not None and self.val_crop_size < 32:
            raise ValueError(f"val_crop_size: got {self.val_crop_size}, expected >= 32 or null")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range: got {list(self.scale_range)}, expected 0 < low <= high")
        if self.workers < 0 or self.seed < 0:
            raise ValueError("workers and seed: expected >= 0")


@dataclass(frozen=True)
class EpochPlan:
    """What one epoch trains with, before any poly decay."""

    epoch: int
    """0-based index over the whole run."""
    stage: int
    """0-based training stage."""
    aux_weight: float
    """Weight of each auxiliary loss."""
    lr_scale: float
    """Multiplier of both base learning rates."""
    bn_frozen: bool
    """Batch-norm layers in eval mode (statistics frozen)."""


def plan_epochs(settings: FinalTrainSettings) -> list[EpochPlan]:
    """The whole schedule, one entry per epoch."""
    freeze = settings.freeze_epoch
    plans = []
    for epoch in range(settings.epochs):
        stage = epoch // settings.epochs_per_stage
        frozen = freeze is not None and epoch >= freeze
        scale = settings.stage_lr_factor**stage * (settings.freeze_lr_factor if frozen else 1.0)
        plans.append(EpochPlan(epoch, stage, settings.aux_weights[stage], scale, frozen))
    return plans


def lr_scale(settings: FinalTrainSettings, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rates at global optimiser step `step` (0-based)."""
    plans = plan_epochs(settings)
    plan = plans[min(step // steps_per_epoch, len(plans) - 1)]
    stage_steps = settings.epochs_per_stage * steps_per_epoch
    into_stage = step - plan.stage * stage_steps
    poly = max(0.0, 1 - into_stage / stage_steps) ** settings.poly_power
    return plan.lr_scale * poly
