"""The full-training recipe of a found design (the paper's section 4.4).

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

from dataclasses import dataclass, field
from typing import Literal

from segnas.settings_io import require
from segnas.space.builder import DecoderSettings
from segnas.train.settings import check_batch


@dataclass(frozen=True)
class FinalTrainSettings:
    """Full training of one design; every default suits the built-in data on a CPU."""

    decoder: DecoderSettings = field(default_factory=lambda: DecoderSettings(64, 2, "cell"))
    """The final decoder: width C = 64, R = 2 repeats (search: 48, 1), auxiliary heads `cell`.
    The heads supervise training only; the model file leaves them out."""
    aux_weights: tuple[float, ...] = (0.3, 0.25, 0.2, 0.15)
    """Weight of each auxiliary loss, one entry per training stage: the number of entries is the
    number of stages."""
    epochs_per_stage: int = 2
    """Passes over the training set in each stage (built-in data: 2; VOC on a GPU: 30-50)."""
    stage_epochs: tuple[int, ...] | None = None
    """Epochs of each stage when they differ (one entry per stage, e.g. the paper's pose recipe:
    90, 30, 20); None: `epochs_per_stage` each."""
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
    encoder_optimizer: Literal["sgd", "adam"] = "sgd"
    """SGD with `encoder_momentum` (segmentation, depth) or Adam (the paper's pose recipe)."""
    decoder_lr: float = 3e-3
    """Learning rate of the decoder at the start (paper: Adam 3e-3; depth: SGD 7e-3)."""
    decoder_optimizer: Literal["adam", "sgd"] = "adam"
    """Adam (segmentation, the paper) or SGD with `decoder_momentum` (the paper's depth)."""
    decoder_momentum: float = 0.9
    """SGD momentum of the decoder when `decoder_optimizer` is sgd."""
    poly_power: float = 0.0
    """Within each stage the rates decay as (1 - step / (poly_horizon x stage_steps)) ** power;
    0 keeps them constant (the paper), 0.9 is the usual poly schedule."""
    poly_horizon: float = 1.0
    """How far past the stage's end the poly schedule would reach 0 (the paper's depth recipe
    decays over 400 epochs and stops at 300: 4/3)."""
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
    def epochs_of_stages(self) -> tuple[int, ...]:
        """Epochs of each stage."""
        if self.stage_epochs is not None:
            return tuple(self.stage_epochs)
        return (self.epochs_per_stage,) * self.num_stages

    def stage_start(self, stage: int) -> int:
        """First epoch (0-based) of `stage`."""
        return sum(self.epochs_of_stages[:stage])

    @property
    def epochs(self) -> int:
        return sum(self.epochs_of_stages)

    @property
    def freeze_epoch(self) -> int | None:
        """First epoch (0-based) with frozen batch-norm statistics; None when they never freeze."""
        if not self.freeze_bn:
            return None
        last = self.num_stages - 1
        return self.stage_start(last) + self.epochs_of_stages[last] // 2

    def __post_init__(self) -> None:
        require(bool(self.aux_weights), "aux_weights", self.aux_weights, "one entry per stage")
        for i, weight in enumerate(self.aux_weights):
            require(weight >= 0, f"aux_weights[{i}]", weight, ">= 0")
        require(self.epochs_per_stage >= 1, "epochs_per_stage", self.epochs_per_stage, ">= 1")
        if self.stage_epochs is not None:
            object.__setattr__(self, "stage_epochs", tuple(int(e) for e in self.stage_epochs))
            count = len(self.stage_epochs)
            require(count == self.num_stages, "stage_epochs", count, "one entry per aux weight")
            for i, epochs in enumerate(self.stage_epochs):
                require(epochs >= 1, f"stage_epochs[{i}]", epochs, ">= 1")
        for name in ("stage_lr_factor", "freeze_lr_factor"):
            require(0 < getattr(self, name) <= 1, name, getattr(self, name), "in (0, 1]")
        for name in ("encoder_lr", "decoder_lr", "grad_clip"):
            require(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        for name in ("encoder_momentum", "decoder_momentum"):
            require(0 <= getattr(self, name) < 1, name, getattr(self, name), "in [0, 1)")
        require(self.poly_horizon >= 1, "poly_horizon", self.poly_horizon, ">= 1")
        for name in ("poly_power", "weight_decay", "workers", "seed"):
            require(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        check_batch("batch_size", self.batch_size)
        require(self.val_batch_size >= 1, "val_batch_size", self.val_batch_size, ">= 1")
        require(self.crop_size >= 32, "crop_size", self.crop_size, ">= 32 (stride-32 taps)")
        val_crop = self.val_crop_size
        require(val_crop is None or val_crop >= 32, "val_crop_size", val_crop, ">= 32 or null")
        low, high = self.scale_range
        require(0 < low <= high, "scale_range", list(self.scale_range), "0 < low <= high")


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
    stages = [i for i, n in enumerate(settings.epochs_of_stages) for _ in range(n)]
    for epoch in range(settings.epochs):
        stage = stages[epoch]
        frozen = freeze is not None and epoch >= freeze
        scale = settings.stage_lr_factor**stage * (settings.freeze_lr_factor if frozen else 1.0)
        plans.append(EpochPlan(epoch, stage, settings.aux_weights[stage], scale, frozen))
    return plans


def lr_scale(settings: FinalTrainSettings, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rates at global optimiser step `step` (0-based)."""
    plans = plan_epochs(settings)
    plan = plans[min(step // steps_per_epoch, len(plans) - 1)]
    stage_steps = settings.epochs_of_stages[plan.stage] * steps_per_epoch
    into_stage = step - settings.stage_start(plan.stage) * steps_per_epoch
    horizon = stage_steps * settings.poly_horizon
    poly = max(0.0, 1 - into_stage / horizon) ** settings.poly_power
    return plan.lr_scale * poly


DEPTH_EPOCHS = 12
"""Epochs of the built-in-data depth recipe (the paper: 300 on NYUDv2's 25K frames)."""


def depth_recipe() -> FinalTrainSettings:
    """The paper's depth recipe (its appendix), scaled down to the built-in data on a CPU.

    SGD with momentum 0.9 for encoder (1e-3) and decoder (7e-3), one stage with a poly decay
    (power 0.9) over 4/3 of the run (400 epochs, stopped at 300), batch 32, no batch-norm
    freeze. The paper crops 500 x 500 from NYUDv2 and trains 300 epochs; on real data pass
    ``--set crop_size=500 --set epochs_per_stage=300 --set val_crop_size=null``.
    """
    return FinalTrainSettings(
        aux_weights=(0.15,),
        epochs_per_stage=DEPTH_EPOCHS,
        freeze_bn=False,
        encoder_lr=1e-3,
        decoder_lr=7e-3,
        decoder_optimizer="sgd",
        poly_power=0.9,
        poly_horizon=4 / 3,
        batch_size=32,
    )


POSE_STAGE_EPOCHS = (9, 3, 2)
"""The paper's pose schedule (90, 30, 20 epochs) at a tenth, for the built-in data on a CPU."""


def pose_recipe() -> FinalTrainSettings:
    """The paper's pose recipe (SimpleBaselines'), scaled down to the built-in data on a CPU.

    Adam 1e-3 for the whole network, divided by 10 after epochs 90 and 120, stopped at 140,
    batch 128; here the epochs are a tenth (9, 3, 2) and the batch 32. No batch-norm freeze.
    On COCO or MPII pass ``--set stage_epochs=[90,30,20] --set batch_size=128 --set
    crop_size=256`` (COCO crops are 256 x 192 in the paper; segnas trains square crops).
    """
    return FinalTrainSettings(
        aux_weights=(0.15,) * len(POSE_STAGE_EPOCHS),
        stage_epochs=POSE_STAGE_EPOCHS,
        stage_lr_factor=0.1,
        freeze_bn=False,
        encoder_lr=1e-3,
        encoder_optimizer="adam",
        decoder_lr=1e-3,
        decoder_optimizer="adam",
        batch_size=32,
    )
