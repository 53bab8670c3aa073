"""Settings of `segnas auto`; written resolved as `auto.yaml` in its directory."""

from __future__ import annotations

from dataclasses import dataclass, field

from segnas.baselines import BASELINES
from segnas.final.bench import TORCHVISION_MODELS
from segnas.final.eval import EvalSettings
from segnas.final.recipe import FinalTrainSettings
from segnas.search.settings import SearchSettings
from segnas.settings_io import require


@dataclass(frozen=True)
class AutoSettings:
    """The whole pipeline: what to search, how to train and compare, what to export."""

    search: SearchSettings = field(default_factory=SearchSettings)
    """The search (its `data`, `classes`, objective, latency cap and time budget serve every
    step)."""
    top: int = 1
    """Found designs trained in full: the search's best, then its next ones."""
    baselines: tuple[str, ...] = ("smp:unet", "smp:fpn", "smp:deeplabv3plus")
    """Hand-designed decoders on the same encoder trained alongside by the same recipe
    (`[]`: none)."""
    compare: tuple[str, ...] = TORCHVISION_MODELS
    """torchvision models timed beside them (untrained: latency does not depend on weights)."""
    train: FinalTrainSettings = field(default_factory=FinalTrainSettings)
    """The recipe of every full training, found design and baseline alike."""
    eval: EvalSettings = field(default_factory=EvalSettings)
    """How the trained models are scored on the validation split."""
    bench_runs: int = 20
    """Timed passes per model and round in the latency comparison."""
    bench_rounds: int = 3
    """Rounds of the comparison, every model once per round (drift hits all alike); the
    figure is the median of a model's round means."""
    export_format: str = "onnx"
    """What the found design is exported to (onnx or torchscript), with its model card."""

    def __post_init__(self) -> None:
        require(self.top >= 1, "top", self.top, ">= 1")
        for i, name in enumerate(self.baselines):
            require(name in BASELINES, f"baselines[{i}]", name, f"one of {', '.join(BASELINES)}")
        for i, name in enumerate(self.compare):
            known = ", ".join(TORCHVISION_MODELS)
            require(name in TORCHVISION_MODELS, f"compare[{i}]", name, f"one of {known}")
        require(self.bench_runs >= 2, "bench_runs", self.bench_runs, ">= 2")
        require(self.bench_rounds >= 1, "bench_rounds", self.bench_rounds, ">= 1")
        fmts = ("onnx", "torchscript")
        require(self.export_format in fmts, "export_format", self.export_format, f"one of {fmts}")
