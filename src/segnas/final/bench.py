"""Runtime measurement with the paper's protocol, so figures compare with its tables.

Eval mode, a few warm-up passes, then `runs` timed forward passes of one batch, each timed on
its own (CUDA synchronised before the clock stops) so the mean and standard deviation describe
single passes. Parameters and multiply-adds come alongside, counted the way `segnas describe`
counts them (conv and linear layers, auxiliary heads excluded, batch norm unfolded).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from segnas.final.inference import InferenceNet, PlainNet
from segnas.space.builder import SegmentationNet
from segnas.space.cost import layer_madds, measure_cost
from segnas.space.decoder import main_logits


@dataclass(frozen=True)
class BenchResult:
    """One model's figures at one input size; times in milliseconds per forward pass."""

    name: str
    device: str
    threads: int
    """Intra-op CPU threads during the runs (what `--threads` sets)."""
    batch: int
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    """(H, W) of the returned logits; the input size for models that upsample inside."""
    runs: int
    warmup: int
    mean_ms: float
    std_ms: float
    params: int | None
    """None where unknown (an ONNX file without Conv/Gemm weights or a model card)."""
    madds: int | None
    """Conv and linear multiply-adds of one forward pass of one image."""

    def to_dict(self) -> dict:
        return asdict(self)


def count_madds(module: nn.Module, example: torch.Tensor) -> int:
    """Conv and linear multiply-adds of one forward pass on `example` (the convention of
    `segnas.space.cost.measure_cost`, so figures for foreign models compare with ours)."""
    total = 0

    def count(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += layer_madds(layer, output)

    layers = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(count) for m in layers]
    try:
        with torch.inference_mode():
            module(example)
    finally:
        for handle in handles:
            handle.remove()
    return total


def model_cost(
    module: nn.Module, input_size: tuple[int, int], device: torch.device
) -> tuple[int, int]:
    """(parameters, multiply-adds) for one image, as `segnas describe` reports them.

    A `SegmentationNet` goes through `measure_cost` itself; an `InferenceNet` reports the
    parameters of the network it was built from (folding batch norm is a runtime detail, not a
    smaller model); any other module counts its own parameters.
    """
    if isinstance(module, SegmentationNet):
        cost = measure_cost(module, input_size)
        return cost.params, cost.madds
    example = torch.zeros(1, 3, *input_size, device=device)
    if isinstance(module, (InferenceNet, PlainNet)):
        return module.source_params, count_madds(module, example)
    return sum(p.numel() for p in module.parameters()), count_madds(module, example)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_passes(
    run: Callable[[], object],
    runs: int,
    warmup: int,
    device: torch.device,
    on_run: Callable[[], None] | None = None,
) -> list[float]:
    """Milliseconds of each of `runs` calls of `run` after `warmup` untimed ones, each timed on
    its own and waited for on CUDA; `on_run` after every call (progress bars)."""
    for _ in range(warmup):
        run()
        if on_run is not None:
            on_run()
    _sync(device)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
        if on_run is not None:
            on_run()
    return times


def check_protocol(runs: int, warmup: int, input_size: tuple[int, int], batch: int) -> None:
    """Refuse settings the protocol cannot time: fewer than two runs (no standard deviation)."""
    if runs < 2:
        raise ValueError(f"runs: got {runs}, expected >= 2 (a standard deviation needs two)")
    if warmup < 0:
        raise ValueError(f"warmup: got {warmup}, expected >= 0")
    if min(input_size) < 1 or batch < 1:
        raise ValueError(f"input size {input_size} and batch {batch}: expected positive numbers")


def benchmark_runner(
    runner: Callable[[torch.Tensor], torch.Tensor],
    name: str,
    params: int | None,
    madds: int | None,
    input_size: tuple[int, int] = (512, 512),
    device: torch.device | str = "cpu",
    runs: int = 100,
    warmup: int = 10,
    *,
    batch: int = 1,
    on_run: Callable[[], None] | None = None,
) -> BenchResult:
    """`benchmark` for an exported file's runner (CPU tensors in and out, e.g. ONNX Runtime on
    `device`), whose parameters and multiply-adds the caller counts (None: unknown)."""
    check_protocol(runs, warmup, input_size, batch)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, *input_size, generator=generator)  # (B, 3, H, W)
    last: dict[str, torch.Tensor] = {}

    def run() -> None:
        last["out"] = runner(x)

    times = time_passes(run, runs, warmup, torch.device("cpu"), on_run)
    return _result(name, device, x, last["out"], warmup, times, params, madds)


def _result(
    name: str,
    device: torch.device | str,
    x: torch.Tensor,
    out: torch.Tensor,
    warmup: int,
    times: list[float],
    params: int | None,
    madds: int | None,
) -> BenchResult:
    """The figures of `times` (ms per pass) for input `x` and output `out`."""
    return BenchResult(
        name=name,
        device=str(device),
        threads=torch.get_num_threads(),
        batch=int(x.shape[0]),
        input_size=(int(x.shape[-2]), int(x.shape[-1])),
        output_size=(int(out.shape[-2]), int(out.shape[-1])),
        runs=len(times),
        warmup=warmup,
        mean_ms=statistics.fmean(times),
        std_ms=statistics.stdev(times),
        params=params,
        madds=madds,
    )


def benchmark(
    module: nn.Module,
    input_size: tuple[int, int] = (512, 512),
    device: torch.device | str = "cpu",
    runs: int = 100,
    warmup: int = 10,
    *,
    batch: int = 1,
    name: str | None = None,
    on_run: Callable[[], None] | None = None,
) -> BenchResult:
    """Time `module` on random input of `input_size` on `device` (where the module must live).

    `on_run` is called after every warm-up and timed pass (progress bars). The module is put in
    eval mode for the measurement and given back in the mode it came in.
    """
    check_protocol(runs, warmup, input_size, batch)
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch, 3, *input_size, device=device, generator=generator)  # (B, 3, H, W)
    was_training = module.training
    module.eval()
    try:
        params, madds = model_cost(module, input_size, device)
        last: dict[str, object] = {}

        def run() -> None:
            last["out"] = module(x)

        with torch.inference_mode():
            times = time_passes(run, runs, warmup, device, on_run)
    finally:
        module.train(was_training)
    out = main_logits(last["out"])
    return _result(name or type(module).__name__, device, x, out, warmup, times, params, madds)


TORCHVISION_MODELS = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large")
"""torchvision's MobileNetV3 segmentation models, the usual real-time references."""


def torchvision_models(
    num_classes: int, names: tuple[str, ...] = TORCHVISION_MODELS
) -> dict[str, nn.Module]:
    """The comparison models, untrained (latency does not depend on the weights)."""
    from torchvision.models import segmentation

    return {
        name: getattr(segmentation, name)(
            weights=None, weights_backbone=None, num_classes=num_classes
        )
        for name in names
    }
