"""Settings of the inner loop (SPEC section 6); every default is the paper's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


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

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("stage 1 needs epochs >= 1 and batch_size >= 2")


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

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("stage 2 needs epochs >= 1 and batch_size >= 2")


@dataclass(frozen=True)
class CandidateSettings:
    """How one candidate is trained and scored during the search."""

    channels: int = 48
    """Decoder width C at search time."""
    repeats: int = 1
    """Separable-conv repeats R at search time."""
    aux_mode: Literal["cell", "plain", "none"] = "cell"
    """Auxiliary heads: searched cell + classifier, classifier only, or none."""
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
    seed: int = 0
    """Seed of weight init and batch order (mixed with the genotype unless
    `common_random_numbers`)."""

    def validate(self) -> None:
        if self.channels < 1 or self.repeats < 1:
            raise ValueError("channels and repeats must be >= 1")
        if self.crop_size < 32:
            raise ValueError(f"crop_size: got {self.crop_size}, expected >= 32 (stride 32 taps)")
        if self.grad_clip <= 0:
            raise ValueError(f"grad_clip: got {self.grad_clip}, expected > 0")
        self.stage1.validate()
        self.stage2.validate()
