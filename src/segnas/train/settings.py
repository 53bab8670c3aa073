"""Settings of the inner loop: how each candidate is trained and scored during a search.

Every default is the paper's. The run's seed is not here: the search passes it to
`evaluate_candidate`, so one seed (`SearchSettings.seed`, `--seed`) drives the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from segnas.settings_io import require
from segnas.space.builder import DecoderSettings


def check_batch(name: str, value: int) -> None:
    """Training batches need two samples: batch norm cannot normalise one."""
    require(value >= 2, name, value, ">= 2 (batch norm needs two samples)")


@dataclass(frozen=True)
class Stage1Settings:
    """Decoder-only training on cached encoder features."""

    epochs: int = 5
    """Passes over the meta-train features."""
    batch_size: int = 64
    """Images per step."""
    lr: float = 3e-3
    """Adam learning rate of the decoder."""
    polyak_decay: float = 0.9
    """Decay of the weight average swapped in before validation."""
    distill_weight: float = 0.3
    """Weight of the MSE to the teacher's logits (0 or no teacher: off)."""

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", self.epochs, ">= 1")
        check_batch("batch_size", self.batch_size)
        require(self.lr > 0, "lr", self.lr, "> 0")
        require(0 <= self.polyak_decay < 1, "polyak_decay", self.polyak_decay, "in [0, 1)")
        require(self.distill_weight >= 0, "distill_weight", self.distill_weight, ">= 0")


@dataclass(frozen=True)
class Stage2Settings:
    """End-to-end training, encoder included."""

    epochs: int = 1
    """Passes over the meta-train images."""
    batch_size: int = 32
    """Images per step."""
    encoder_lr: float = 1e-3
    """SGD learning rate of the encoder."""
    encoder_momentum: float = 0.9
    """SGD momentum of the encoder."""
    decoder_lr: float = 3e-3
    """Adam learning rate of the decoder."""
    polyak_decay: float = 0.99
    """Decay of the weight average swapped in before validation."""

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", self.epochs, ">= 1")
        check_batch("batch_size", self.batch_size)
        for name in ("encoder_lr", "decoder_lr"):
            require(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        momentum = self.encoder_momentum
        require(0 <= momentum < 1, "encoder_momentum", momentum, "in [0, 1)")
        require(0 <= self.polyak_decay < 1, "polyak_decay", self.polyak_decay, "in [0, 1)")


@dataclass(frozen=True)
class CandidateSettings:
    """How one candidate is trained and scored during the search."""

    decoder: DecoderSettings = field(default_factory=DecoderSettings)
    """The search-time decoder: width C = 48, R = 1 repeat, auxiliary heads `cell`."""
    aux_weight: float = 0.15
    """Weight of each auxiliary loss."""
    polyak: bool = True
    """Validate with Polyak-averaged weights (off for ablations)."""
    polyak_warmup: bool = True
    """Polyak decay warms up as min(decay, (1 + t) / (10 + t)) (timm's ModelEma), so a short
    stage's average reflects its training; False: the paper's fixed decay from the first step."""
    common_random_numbers: bool = True
    """Every candidate of a run trains with the same batch order and initialisation stream, so
    reward differences are differences of designs, not of luck; False: a seed per design."""
    distill: bool = True
    """Distil from the teacher in stage 1 when one is given (off for ablations)."""
    weight_decay: float = 1e-5
    """L2 penalty in both stages."""
    grad_clip: float = 3.0
    """Gradient-norm clip in both stages."""
    crop_size: int = 64
    """Side of the square training and validation views."""
    val_batch_size: int = 64
    """Images per validation step."""
    stage1: Stage1Settings = field(default_factory=Stage1Settings)
    """Stage 1 settings."""
    stage2: Stage2Settings = field(default_factory=Stage2Settings)
    """Stage 2 settings."""

    def __post_init__(self) -> None:
        require(self.aux_weight >= 0, "aux_weight", self.aux_weight, ">= 0")
        require(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        require(self.grad_clip > 0, "grad_clip", self.grad_clip, "> 0")
        require(self.crop_size >= 32, "crop_size", self.crop_size, ">= 32 (stride-32 taps)")
        require(self.val_batch_size >= 1, "val_batch_size", self.val_batch_size, ">= 1")
