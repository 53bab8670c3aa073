"""The latency meter of latency-aware search: a design's deployed form, timed as `segnas bench`
times it, each figure measured once per machine and kept in the shared latency cache.

The deployed form is what `segnas train` would produce from the design: the final decoder
width and repeats, no auxiliary heads, batch norm folded, segnas's runtime rewrites, full-size
logits (`inference_net`), or for `onnxruntime-cpu` the file `segnas export` writes, run by ONNX
Runtime. Weights are random: the time of a forward pass does not depend on their values.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from segnas.final.bench import time_passes
from segnas.final.inference import inference_net
from segnas.genotype import Genotype
from segnas.search.latency import (
    LatencyCache,
    LatencyKey,
    LatencyRecord,
    LatencySettings,
    cached_measurement,
    cpu_name,
    usable_threads,
)
from segnas.space.builder import DecoderSettings, SegmentationNet, build_network


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to `threads` for the block, then put back."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def runtime_name(target: str) -> str:
    """The runtime and its version, plus OpenMP's waiting policy on the CPU (passive waiting
    costs a quiet machine 17-34%, README): part of the cache key."""
    if target == "onnxruntime-cpu":
        import onnxruntime

        return f"{target} ort-{onnxruntime.__version__}"
    name = f"{target} torch-{torch.__version__}"
    if target == "cpu":
        name += f" omp-{os.environ.get('OMP_WAIT_POLICY', 'default').lower()}"
    return name


def device_name(target: str) -> str:
    if target == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("latency target cuda: no CUDA device is available here")
        return torch.cuda.get_device_name()
    return cpu_name()


class DeployedLatency:
    """`LatencyMeter` for one run: designs for `num_classes` classes on `encoder`, measured
    with `settings`, cached in `cache` (None: no cache; default: the machine's shared one)."""

    def __init__(
        self,
        settings: LatencySettings,
        num_classes: int,
        encoder: str = "mobilenet_v2",
        cache: LatencyCache | None | str = "default",
    ) -> None:
        self.settings, self.num_classes, self.encoder = settings, num_classes, encoder
        self.threads = usable_threads(settings.threads)
        self.cache = LatencyCache() if cache == "default" else cache
        self.runtime = runtime_name(settings.target)
        self.device = device_name(settings.target)

    def key(self, genotype: Genotype) -> LatencyKey:
        s = self.settings
        return LatencyKey(
            design=str(genotype.normalized()),
            classes=self.num_classes,
            channels=s.channels,
            repeats=s.repeats,
            encoder=self.encoder,
            size=s.size,
            runtime=self.runtime,
            device=self.device,
            threads=self.threads,
        )

    def __call__(self, genotype: Genotype) -> LatencyRecord:
        return cached_measurement(self.cache, self.key(genotype), lambda: self.time(genotype))

    def deployed_network(self, genotype: Genotype) -> SegmentationNet:
        """The design as `segnas train` would build it (random weights, no auxiliary heads)."""
        decoder = DecoderSettings(self.settings.channels, self.settings.repeats, "none")
        with torch.random.fork_rng(devices=[]):  # the run's random streams are left alone
            torch.manual_seed(0)
            return build_network(
                genotype.normalized(), self.num_classes, decoder, encoder=self.encoder, weights=None
            )

    def time(self, genotype: Genotype) -> tuple[float, float, int]:
        """(mean ms, std ms, runs) of the deployed form, measured now: `segnas bench`'s protocol
        (eval mode, warm-up, each pass timed on its own) without its cost counting, which the
        search has already done for the row."""
        s = self.settings
        net = self.deployed_network(genotype)
        x = torch.randn(1, 3, s.size, s.size, generator=torch.Generator().manual_seed(0))
        with intra_op_threads(self.threads):
            if s.target == "onnxruntime-cpu":
                from segnas.final.export import onnx_runner

                runner = onnx_runner(net, s.size, self.threads)
                times = time_passes(lambda: runner(x), s.runs, s.warmup, torch.device("cpu"))
            else:
                device = torch.device(s.target)
                module, x = inference_net(net, device), x.to(device)
                with torch.inference_mode():
                    times = time_passes(lambda: module(x), s.runs, s.warmup, device)
        return statistics.fmean(times), statistics.stdev(times), s.runs

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
