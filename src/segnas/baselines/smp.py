"""Hand-designed decoders from segmentation_models_pytorch (SMP) on segnas's MobileNet-v2.

What a found design should beat: U-Net, FPN and DeepLabV3+ on the same encoder with the same
ImageNet weights, trained by the same recipe on the same data. SMP is an optional dependency
(`pip install 'segnas[baselines]'`), imported only when a baseline is built.

The models are built with `encoder_weights=None` (SMP would download its own copy of the
weights otherwise) and their encoder is then loaded from the file segnas already uses,
torchvision's `mobilenet_v2-b0353104.pth`: SMP's MobileNet-v2 encoder is torchvision's network
without its classifier, so the `features.*` keys match one for one. SMP's encoder keeps
MobileNet-v2's last 1x1 convolution (320 -> 1280 channels, 0.41 M parameters, `features.18`),
which segnas's encoder leaves out; U-Net, FPN and DeepLabV3+ read their deepest features there.

Decoder widths are SMP's defaults, what a user of SMP gets without tuning: U-Net decoder
channels (256, 128, 64, 32, 16), FPN pyramid 256 / segmentation 128, DeepLabV3+ 256 channels
at encoder output stride 16. Choosing narrower ones would make a baseline that nobody uses.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segnas.weights import (
    WeightsError,
    ensure_mobilenet_v2_weights,
    load_state_dict_file,
    load_strict,
)

PREFIX = "smp:"
"""Every baseline's name starts with this, so it cannot be taken for a design or a file."""
ENCODER = "mobilenet_v2"
"""The one encoder the baselines are built on (segnas's default encoder)."""
INSTALL_HINT = "pip install 'segnas[baselines]'"


class BaselineUnavailableError(ImportError, ValueError):
    """segmentation_models_pytorch is not installed (a ValueError too, so commands report it
    as a plain error with the install hint rather than a traceback)."""


@dataclass(frozen=True)
class BaselineSpec:
    """One hand-designed decoder: the SMP class that builds it and how it is padded."""

    smp_class: str
    """Class name in `segmentation_models_pytorch` (`Unet`, `FPN`, `DeepLabV3Plus`)."""
    pad_multiple: int
    """Input sides must be multiples of this: the input's stride at the decoder's coarsest map
    that is merged with a finer one (SMP checks it)."""
    decoder: str
    """SMP's default decoder widths, which the baseline keeps (recorded in model files)."""


BASELINES: dict[str, BaselineSpec] = {
    "smp:unet": BaselineSpec("Unet", 32, "decoder_channels (256, 128, 64, 32, 16)"),
    "smp:fpn": BaselineSpec("FPN", 32, "pyramid 256, segmentation 128 channels"),
    "smp:deeplabv3plus": BaselineSpec(
        "DeepLabV3Plus", 16, "256 channels, encoder output stride 16, ASPP rates (12, 24, 36)"
    ),
}
"""The baselines by name. U-Net and FPN merge the stride-32 map with finer ones, so they need
multiples of 32 (SMP 0.6's U-Net resizes by itself, older ones do not; a fixed rule keeps a
model file's outputs independent of the SMP version); DeepLabV3+ runs its encoder at output
stride 16 (the last stage dilated), so multiples of 16 do."""


def is_baseline_name(text: str) -> bool:
    """Whether `text` is written as a baseline name (`smp:...`), known or not."""
    return text.strip().startswith(PREFIX)


def check_baseline_name(name: str) -> BaselineSpec:
    """The spec of a known baseline; an unknown name is refused with the list of known ones."""
    spec = BASELINES.get(name.strip())
    if spec is None:
        raise ValueError(
            f"baseline {name!r}: unknown, expected one of {', '.join(BASELINES)} "
            "(hand-designed decoders from segmentation_models_pytorch)"
        )
    return spec


def import_smp() -> ModuleType:
    """segmentation_models_pytorch, or an error that says how to install it."""
    try:
        import segmentation_models_pytorch
    except ImportError as error:
        raise BaselineUnavailableError(
            f"the hand-designed baselines need segmentation-models-pytorch, which is not "
            f"installed ({error}); install it with: {INSTALL_HINT}"
        ) from None
    return segmentation_models_pytorch


def smp_available() -> bool:
    """Whether the baselines can be built here (SMP importable)."""
    try:
        import_smp()
    except BaselineUnavailableError:
        return False
    return True


def smp_version() -> str:
    return str(getattr(import_smp(), "__version__", "unknown"))


class BaselineNet(nn.Module):
    """An SMP model as segnas runs it: (B, 3, H, W) normalised image -> (B, K, H, W) logits at
    any input size.

    The input is zero-padded at the bottom and right to the next multiple of `pad_multiple`
    (zero is the ImageNet mean colour after normalisation) and the logits are cropped back.
    Padding after the image, not around it, keeps the strided layers sampling the same pixel
    grid as on unpadded training crops; zeros work at every size, where reflection fails for
    images smaller than the padding. Offers what segnas's tools use of a `SegmentationNet`:
    `encoder`, `for_inference()`, `output_stride` (1: logits come at the input size) and
    `num_classes`.
    """

    output_stride = 1

    def __init__(self, name: str, model: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.baseline = name
        self.pad_multiple = check_baseline_name(name).pad_multiple
        self.num_classes = num_classes
        self.model = model

    @property
    def encoder(self) -> nn.Module:
        """SMP's MobileNet-v2 encoder (torchvision's `features`), trained by SGD in the recipe."""
        return self.model.encoder

    def decoder_part(self) -> nn.ModuleList:
        """Everything outside the encoder (decoder and segmentation head), trained by Adam."""
        return nn.ModuleList(m for n, m in self.model.named_children() if n != "encoder")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, K, H, W)
        h, w = x.shape[-2:]
        m = self.pad_multiple
        x = F.pad(x, (0, (-w) % m, 0, (-h) % m))  # (B, 3, H', W'), H' and W' multiples of m
        return self.model(x)[..., :h, :w]

    def for_inference(self) -> BaselineNet:
        """A copy in eval mode (there are no auxiliary heads to drop)."""
        return copy.deepcopy(self).eval()


def _encoder_state(path: str) -> dict[str, torch.Tensor]:
    """A MobileNet-v2 state dict for SMP's encoder: torchvision's keys, classifier dropped."""
    state = load_state_dict_file(path)
    return {k: v for k, v in state.items() if not k.startswith("classifier.")}


def load_encoder_weights(net: BaselineNet, weights: str | None) -> None:
    """Load the encoder from `"imagenet"` (segnas's offline copy of torchvision's file) or a
    state-dict file with torchvision's MobileNet-v2 keys; `None`/`"none"` keeps random init."""
    if weights is None or str(weights).lower() == "none":
        return
    path = ensure_mobilenet_v2_weights() if str(weights).lower() == "imagenet" else weights
    load_strict(net.encoder, _encoder_state(str(path)), str(path))


def build_baseline(
    name: str,
    num_classes: int,
    weights: str | None = "imagenet",
    *,
    encoder: str = ENCODER,
) -> BaselineNet:
    """The baseline `name` for `num_classes`, its encoder loaded from `weights` (no network)."""
    spec = check_baseline_name(name)
    if encoder != ENCODER:
        raise ValueError(
            f"encoder {encoder!r}: the baselines are built on {ENCODER} only "
            f"({name} compares decoders on segnas's default encoder)"
        )
    if num_classes < 1:
        raise ValueError(f"num_classes: got {num_classes}, expected >= 1")
    factory: Callable[..., nn.Module] = getattr(import_smp(), spec.smp_class)
    model = factory(encoder_name=ENCODER, encoder_weights=None, classes=num_classes)
    net = BaselineNet(name.strip(), model, num_classes)
    try:
        load_encoder_weights(net, weights)
    except WeightsError as error:
        raise WeightsError(f"{name} encoder: {error}") from None
    return net


def baseline_info(name: str) -> dict[str, Any]:
    """What a model file records about a baseline beside its weights."""
    spec = check_baseline_name(name)
    return {
        "baseline": name,
        "smp_class": spec.smp_class,
        "decoder": spec.decoder,
        "pad_multiple": spec.pad_multiple,
        "smp_version": smp_version(),
    }
