"""Model files: a segnas network's weights plus what is needed to rebuild it.

Saved with `torch.save` holding only tensors and plain data, so loading uses
`torch.load(..., weights_only=True)`: a file with code in it is refused, never run. A file holds
either a found design (`genotype` is its encoding) or a hand-designed baseline (`genotype` is
the baseline's name, `smp:unet`); files written before baselines existed load unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from segnas.baselines import BaselineNet, build_baseline, is_baseline_name
from segnas.genotype import Genotype, GenotypeError, parse
from segnas.run_dir import atomic_torch_save
from segnas.space.builder import DecoderSettings, SegmentationNet, build_network
from segnas.weights import WeightsError, load_strict

MODEL_FORMAT = "segnas-model/1"

SegmentationModel = SegmentationNet | BaselineNet
"""What a model file holds: a found design's network or a hand-designed baseline."""


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and the reason."""


@dataclass
class ModelMeta:
    """How to rebuild a network, and what is known about it."""

    genotype: str
    """The design's canonical encoding, or a baseline's name (`smp:unet`)."""
    num_classes: int
    channels: int
    """Decoder width C of a found design; 0 for a baseline (its widths are in `info`)."""
    repeats: int
    """Separable-convolution repeats R of a found design; 0 for a baseline."""
    aux_mode: str
    encoder: str = "mobilenet_v2"
    class_names: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    """Metrics, training settings, dataset identity: anything JSON-able."""
    task: str = "segmentation"
    """What the network predicts (`segnas.tasks`); files from before tasks are segmentation."""
    task_options: dict[str, Any] = field(default_factory=dict)
    """The task's options (`Task.options`), e.g. the depth scale the outputs are relative to."""

    def decoder_config(self) -> DecoderSettings:
        return DecoderSettings(self.channels, self.repeats, self.aux_mode)  # type: ignore[arg-type]

    @property
    def baseline(self) -> str | None:
        """The baseline's name when the file holds one, else None (a found design)."""
        return self.genotype.strip() if is_baseline_name(self.genotype) else None

    def genotype_obj(self) -> Genotype:
        if self.baseline is not None:
            raise GenotypeError(
                f"{self.baseline} is a hand-designed baseline, not a searched design"
            )
        return parse(self.genotype)


def save_model(path: Path, net: SegmentationModel, meta: ModelMeta) -> None:
    atomic_torch_save(
        {"format": MODEL_FORMAT, "meta": asdict(meta), "state_dict": net.state_dict()}, Path(path)
    )


def load_payload(path: Path, fmt: str, what: str) -> dict[str, Any]:
    """A dict saved with `torch.save` whose "format" is `fmt`, loaded with `weights_only=True`;
    truncated, foreign and code-carrying files get a `ModelFileError` naming the file and
    calling it "not a loadable `what`"."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - truncated, foreign or code-carrying files alike
        raise ModelFileError(
            f"{path}: not a loadable {what} ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:300]})"
        ) from None
    found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
    if found != fmt:
        raise ModelFileError(f"{path}: format {found!r}, expected {fmt!r}")
    return payload


def read_payload(path: Path) -> dict[str, Any]:
    """The raw file contents, checked to be a segnas model file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    return load_payload(path, MODEL_FORMAT, "segnas model file")


def read_meta(path: Path) -> ModelMeta:
    """A model file's header alone (to choose the task or data before building the network)."""
    try:
        return ModelMeta(**read_payload(path)["meta"])
    except (TypeError, KeyError) as error:
        raise ModelFileError(f"{path}: {error}") from None


def load_model(
    path: Path, device: torch.device | str = "cpu"
) -> tuple[SegmentationModel, ModelMeta]:
    """Rebuild the network a model file describes and load its weights strictly."""
    payload = read_payload(path)
    try:
        meta = ModelMeta(**payload["meta"])
        net: SegmentationModel
        if meta.baseline is not None:
            net = build_baseline(meta.baseline, meta.num_classes, None, encoder=meta.encoder)
        else:
            net = build_network(
                meta.genotype_obj(),
                meta.num_classes,
                meta.decoder_config(),
                encoder=meta.encoder,
                weights=None,
            )
        load_strict(net, payload["state_dict"], str(path))
    except WeightsError as error:  # already names the file
        raise ModelFileError(str(error)) from None
    except (TypeError, KeyError, GenotypeError, ValueError) as error:
        raise ModelFileError(f"{path}: {error}") from None
    return net.to(device), meta
