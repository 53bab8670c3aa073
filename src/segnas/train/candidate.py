"""`evaluate_candidate`: the only door from the search into training.

A candidate is built, trained in two stages and scored; anything that goes wrong (a non-finite
loss, running out of memory, any exception) ends that candidate as failed, nothing else.
"""

from __future__ import annotations

import copy
import hashlib
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from segnas.devices import tune_cpu
from segnas.genotype import Genotype
from segnas.space.builder import SegmentationNet, build_decoder
from segnas.space.cost import measure_cost
from segnas.space.decoder import Decoder
from segnas.train.polyak import PolyakAverage
from segnas.train.result import CandidateResult, ContinueRule
from segnas.train.search_data import SearchData
from segnas.train.settings import CandidateSettings
from segnas.train.stages import (
    ChannelsLastEncoder,
    batches,
    decoder_optimizer,
    encoder_optimizer,
    feature_inputs,
    image_inputs,
    statistics_on,
    train_steps,
)


def candidate_seed(genotype: Genotype, seed: int, common: bool = True) -> int:
    """Seed of a candidate's initialisation and batch order.

    With `common` (common random numbers), every candidate of a run draws from the same stream:
    the same batch order, and the same initial values wherever two designs have layers of the
    same shapes, so the rewards of two designs differ by the designs more than by luck.
    Without, the design is mixed in: still reproducible, but each design gets its own draw.
    """
    text = f"{seed}" if common else f"{seed}:{genotype}"
    digest = hashlib.sha256(text.encode()).hexdigest()
    return int(digest[:12], 16)


def _clock(device: torch.device, seconds: dict[str, float]) -> Callable:
    """`with clock(name):` adds the block's wall time to `seconds[name]` (GPU work included)."""

    @contextmanager
    def span(name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    return span


def evaluate_candidate(
    genotype: Genotype,
    settings: CandidateSettings,
    data: SearchData,
    *,
    seed: int,
    should_continue: ContinueRule | None = None,
) -> CandidateResult:
    """Train `genotype` in two stages on `data` and score it on meta-val; never raises.

    `seed` is the run's seed (`SearchSettings.seed`, or a fresh one when re-scoring): it fixes
    the initialisation and the batch order, with the design mixed in unless
    `settings.common_random_numbers`.
    """
    tune_cpu()
    result = CandidateResult(genotype=str(genotype))
    clock = _clock(data.device, result.seconds)
    try:
        _run(genotype, settings, data, seed, should_continue, result, clock)
    except Exception as error:  # noqa: BLE001 - isolation: every failure ends only this candidate
        result.status = "failed"
        result.reward = 0.0
        oom = isinstance(error, torch.OutOfMemoryError)
        result.failure = ("out of memory: " if oom else "") + f"{type(error).__name__}: {error}"
        result.traceback = "".join(traceback.format_exception(error, limit=-6))[-4000:]
        if oom and data.device.type == "cuda":
            torch.cuda.empty_cache()
    return result


def _run(
    genotype: Genotype,
    settings: CandidateSettings,
    data: SearchData,
    seed: int,
    should_continue: ContinueRule | None,
    result: CandidateResult,
    clock: Callable,
) -> None:
    """Build, stage 1, the early-termination decision, stage 2; each stage is scored."""
    generator = _seed(genotype, settings, seed)
    with clock("build"):
        decoder = _build(genotype, settings, data, result)
    with clock("stage1"):
        polyak = _stage1(decoder, settings, data, generator, result)
    with clock("val1"):
        inputs = feature_inputs(data.val_taps, data.device)
        result.stage1_reward, result.stage1_metrics = _score(
            decoder, inputs, data, settings, polyak
        )
    result.reward = result.stage1_reward
    if should_continue is not None and not should_continue(result.stage1_reward):
        result.status = "stopped"
        return
    with clock("stage2"):
        net, polyak = _stage2(decoder, polyak, settings, data, generator, result)
    with clock("val2"):
        inputs = image_inputs(data.val_images, data.device)
        result.stage2_reward, result.stage2_metrics = _score(net, inputs, data, settings, polyak)
    result.reward = result.stage2_reward
    result.status = "done"


def _seed(genotype: Genotype, settings: CandidateSettings, seed: int) -> torch.Generator:
    """Seed torch's global stream (initialisation); returns the batch-order generator."""
    seed = candidate_seed(genotype, seed, settings.common_random_numbers)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _build(
    genotype: Genotype, settings: CandidateSettings, data: SearchData, result: CandidateResult
) -> Decoder:
    """The search-time decoder on `data`'s device; its cost goes into `result`."""
    decoder = build_decoder(genotype, data.encoder, data.num_classes, settings.decoder)
    decoder = decoder.to(data.device)
    cost = measure_cost(SegmentationNet(data.encoder, decoder), (settings.crop_size,) * 2)
    result.params, result.madds = cost.params, cost.madds
    return decoder


def _stage1(
    decoder: Decoder,
    settings: CandidateSettings,
    data: SearchData,
    generator: torch.Generator,
    result: CandidateResult,
) -> PolyakAverage | None:
    """Decoder-only training on the cached taps, distilled from the teacher when there is one."""
    s1 = settings.stage1
    optimizer = decoder_optimizer(decoder, s1.lr, settings.weight_decay)
    polyak = _polyak(decoder, s1.polyak_decay, settings)
    distill = settings.distill and data.teacher_logits is not None and s1.distill_weight > 0
    inputs = feature_inputs(data.train_taps, data.device)
    losses = [
        train_steps(
            decoder,
            inputs,
            data.train_masks,
            [optimizer],
            batches(len(data.train_masks), s1.batch_size, generator),
            task=data.task,
            aux_weight=settings.aux_weight,
            grad_clip=settings.grad_clip,
            polyak=polyak,
            teacher=data.teacher_logits if distill else None,
            distill_weight=s1.distill_weight,
            stage="stage 1",
        )
        for _ in range(s1.epochs)
    ]
    result.stage1_loss = losses[-1]
    return polyak


def _stage2(
    decoder: Decoder,
    polyak: PolyakAverage | None,
    settings: CandidateSettings,
    data: SearchData,
    generator: torch.Generator,
    result: CandidateResult,
) -> tuple[SegmentationNet, PolyakAverage | None]:
    """End-to-end training of a copy of the encoder with the decoder stage 1 left."""
    s2, device = settings.stage2, data.device
    if polyak is not None:
        polyak.copy_to_module()  # go on from the weights that earned the stage-1 reward
    encoder = copy.deepcopy(data.encoder).requires_grad_(True)
    if device.type == "cpu":
        encoder = ChannelsLastEncoder(encoder)
    net = SegmentationNet(encoder, decoder).to(device)
    optimizers = [
        encoder_optimizer(net, s2.encoder_lr, s2.encoder_momentum, settings.weight_decay),
        decoder_optimizer(decoder, s2.decoder_lr, settings.weight_decay),
    ]
    polyak = _polyak(net, s2.polyak_decay, settings)
    inputs = image_inputs(data.stage2_images, device)
    losses = [
        train_steps(
            net,
            inputs,
            data.stage2_masks,
            optimizers,
            batches(len(data.stage2_masks), s2.batch_size, generator),
            task=data.task,
            aux_weight=settings.aux_weight,
            grad_clip=settings.grad_clip,
            polyak=polyak,
            stage="stage 2",
        )
        for _ in range(s2.epochs)
    ]
    result.stage2_loss = losses[-1]
    return net, polyak


def _polyak(
    module: torch.nn.Module, decay: float, settings: CandidateSettings
) -> PolyakAverage | None:
    if not settings.polyak:
        return None
    return PolyakAverage(module, decay, warmup=settings.polyak_warmup)


def _score(
    model: torch.nn.Module,
    inputs,
    data: SearchData,
    settings: CandidateSettings,
    polyak: PolyakAverage | None,
) -> tuple[float, dict]:
    """Reward and metrics on meta-val, with the Polyak average swapped in when there is one."""
    stats = statistics_on(model, inputs, data.val_masks, data.task, settings.val_batch_size, polyak)
    return data.task.reward(stats), data.task.metrics(stats)
