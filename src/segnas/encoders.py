"""Encoders that describe their own taps (channels, strides), behind one registry.

A decoder sizes itself from `Encoder.taps`; weights are `"imagenet"` (torchvision's weights API,
made to work offline for MobileNet-v2 by `segnas.weights`), `None` (random init) or a file path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from segnas.weights import (
    WeightsError,
    ensure_mobilenet_v2_weights,
    load_state_dict_file,
    load_strict,
    sha256_of,
)

WeightsSpec = str | Path | None
"""`"imagenet"`, `None`/`"none"` for random init, or a path to a state-dict file."""


@dataclass(frozen=True)
class TapInfo:
    """What a decoder needs to know about an encoder's outputs, finest first."""

    channels: tuple[int, ...]
    strides: tuple[int, ...]


class Encoder(nn.Module):
    """A backbone cut into stages; stage i ends at tap i. Subclasses set `taps`."""

    taps: TapInfo

    def stage(self, index: int) -> list[nn.Module]:
        """The modules that turn tap `index - 1` (or the image) into tap `index`."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, num_taps: int | None = None) -> list[torch.Tensor]:
        """Tap outputs, finest first; stops after `num_taps` stages when fewer are needed."""
        outputs = []
        for index in range(num_taps or len(self.taps.channels)):
            for module in self.stage(index):
                x = module(x)
            outputs.append(x)
        return outputs


ENCODERS: dict[str, Callable[[WeightsSpec], Encoder]] = {}


def register_encoder(name: str) -> Callable[[Callable[[WeightsSpec], Encoder]], Callable]:
    """Decorator adding an encoder factory `f(weights) -> Encoder` to the registry."""

    def add(factory: Callable[[WeightsSpec], Encoder]) -> Callable[[WeightsSpec], Encoder]:
        ENCODERS[name] = factory
        return factory

    return add


def build_encoder(name: str = "mobilenet_v2", weights: WeightsSpec = "imagenet") -> Encoder:
    """An encoder from the registry with the requested weights."""
    if name not in ENCODERS:
        raise ValueError(f"encoder {name!r}: unknown, expected one of {sorted(ENCODERS)}")
    return ENCODERS[name](weights)


def _is_imagenet(weights: WeightsSpec) -> bool:
    return isinstance(weights, str) and weights.lower() == "imagenet"


def _is_random(weights: WeightsSpec) -> bool:
    return weights is None or (isinstance(weights, str) and weights.lower() == "none")


def _load_user_file(encoder: Encoder, path: WeightsSpec, ignored_prefixes: Sequence[str]) -> None:
    """Load a user's file into the encoder, accepting a whole torchvision classifier's keys."""
    state = load_state_dict_file(Path(str(path)))
    state = {k: v for k, v in state.items() if not k.startswith(tuple(ignored_prefixes))}
    load_strict(encoder, state, str(path))


class MobileNetV2Encoder(Encoder):
    """torchvision MobileNet-v2 features up to block 17; taps after blocks 3, 6, 13, 17."""

    TAP_BLOCKS = (3, 6, 13, 17)

    def __init__(self, weights: WeightsSpec = "imagenet") -> None:
        super().__init__()
        tv_weights = None
        if _is_imagenet(weights):
            ensure_mobilenet_v2_weights()
            tv_weights = models.MobileNet_V2_Weights.IMAGENET1K_V1
        features = models.mobilenet_v2(weights=tv_weights).features[: self.TAP_BLOCKS[-1] + 1]
        # torchvision's module names (`features.N`), so its state dicts load unchanged.
        self.features = features
        self.taps = ENCODER_TAPS["mobilenet_v2"]
        if not (_is_imagenet(weights) or _is_random(weights)):
            _load_user_file(self, weights, ("features.18.", "classifier."))

    def stage(self, index: int) -> list[nn.Module]:
        start = 0 if index == 0 else self.TAP_BLOCKS[index - 1] + 1
        return list(self.features[start : self.TAP_BLOCKS[index] + 1])


class ResNet50Encoder(Encoder):
    """torchvision ResNet-50; taps after layer1..layer4."""

    def __init__(self, weights: WeightsSpec = "imagenet") -> None:
        super().__init__()
        tv_weights = models.ResNet50_Weights.IMAGENET1K_V1 if _is_imagenet(weights) else None
        try:
            net = models.resnet50(weights=tv_weights)
        except Exception as error:  # noqa: BLE001 - hub download failures vary by platform
            raise WeightsError(
                f"ResNet-50 ImageNet weights are not in {torch.hub.get_dir()}/checkpoints and "
                "could "
                f"not be downloaded ({type(error).__name__}: {error}). Put resnet50-0676ba61.pth "
                "there, or pass a weights file path instead of 'imagenet'."
            ) from None
        # torchvision's module names (`conv1`, `layer1`, ...), so its state dicts load unchanged.
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(net, name))
        self.taps = ENCODER_TAPS["resnet50"]
        if not (_is_imagenet(weights) or _is_random(weights)):
            _load_user_file(self, weights, ("fc.",))

    def stage(self, index: int) -> list[nn.Module]:
        if index == 0:
            return [self.conv1, self.bn1, self.relu, self.maxpool, self.layer1]
        return [getattr(self, f"layer{index + 1}")]


register_encoder("mobilenet_v2")(MobileNetV2Encoder)
register_encoder("resnet50")(ResNet50Encoder)

ENCODER_TAPS: dict[str, TapInfo] = {
    "mobilenet_v2": TapInfo(channels=(24, 32, 96, 320), strides=(4, 8, 16, 32)),
    "resnet50": TapInfo(channels=(256, 512, 1024, 2048), strides=(4, 8, 16, 32)),
}
"""Tap descriptions known without building the encoder (diagrams, reports, the controller)."""


def encoder_identity(name: str, weights: str) -> str:
    """Cache-key identity of an encoder: its name and where its weights came from."""
    if weights.lower() in ("imagenet", "none"):
        return f"{name}:{weights.lower()}"
    return f"{name}:sha256:{sha256_of(Path(weights))}"
