"""Per-candidate cost of segnas against a plain implementation of the same two stages, same run.

Protocol (issue 4): built-in data at 64x64, 200 meta-train / 50 meta-val images, C=48, R=1,
auxiliary cells on, no distillation, stage 1 = 5 epochs at batch 64, stage 2 = 1 epoch at
batch 32, validation after each stage; arch0, arch1, arch2.

The plain side (`plain_candidate.py`) trains the same network on the same batches the way a
straightforward port does: plain `nn.Conv2d`s, `F.interpolate` + `F.cross_entropy`, PyTorch's
default optimiser loops, allocator and thread settings. Every candidate runs in a fresh process
(so segnas's CPU settings, which are process-wide, cannot help the plain side), the two sides
alternate, which goes first alternates too, and the speed-up is the ratio of the medians, with
the spread of the ratios of each back-to-back pair. Nothing is compared against a figure from
another run.

    python benchmarks/candidate_cost.py [--repeats 3] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from flop_rate import conv_gflops, decoder_train_flops, matmul_gflops
from plain_candidate import plain_candidate

from segnas.data import open_dataset
from segnas.devices import tune_cpu
from segnas.encoders import build_encoder
from segnas.genotype import KNOWN_DESIGNS
from segnas.train.candidate import evaluate_candidate
from segnas.train.search_data import (
    SearchData,
    SearchDataInputs,
    prepare_search_data,
    search_split,
)
from segnas.train.settings import CandidateSettings, Stage1Settings

PARTS = ("stage1", "val1", "stage2", "val2")
SIDES = ("plain", "segnas")
SEED = 0
"""The run's seed: the same initial weights and batch order on both sides."""
RESULT = "RESULT "
"""Prefix of the one line a worker prints for the driver."""


@dataclasses.dataclass(frozen=True)
class Protocol:
    """What one candidate is trained on; `--quick` shrinks it to a smoke run."""

    source: str
    train: int
    val: int
    settings: CandidateSettings


def protocol(quick: bool) -> Protocol:
    if quick:
        stage1 = Stage1Settings(epochs=1)
        settings = CandidateSettings(distill=False, stage1=stage1)
        return Protocol("builtin:size=64,train=300,val=50", 32, 16, settings)
    return Protocol("builtin:size=64,train=2000,val=500", 200, 50, CandidateSettings(distill=False))


def run_one(side: str, design: str, folder: Path, quick: bool, threads: int | None) -> dict:
    """Worker body: one candidate of `design` on `side`; seconds per part and rewards."""
    if side == "segnas":
        tune_cpu()  # before any torch work, as `segnas` itself does, so threads inherit it
    if threads:
        torch.set_num_threads(threads)
    plan = protocol(quick)
    data = prepare(plan, folder)  # the driver filled the caches: arrays read back, no pickle
    settings = plan.settings
    genotype = KNOWN_DESIGNS[design]
    if side == "plain":
        result = plain_candidate(genotype, settings, data, SEED)
    else:
        result = evaluate_candidate(genotype, settings, data, seed=SEED)
        if result.status != "done":
            raise RuntimeError(f"segnas candidate {design}: {result.status}: {result.failure}")
    return {
        "seconds": {part: result.seconds[part] for part in PARTS},
        "stage1_loss": result.stage1_loss,
        "reward": result.reward,
    }


def spawn(side: str, design: str, folder: Path, args: argparse.Namespace) -> dict:
    """Run one candidate in a fresh Python process and return what it printed."""
    command = [sys.executable, __file__, "--worker", side, design, "--data", str(folder)]
    if args.quick:
        command.append("--quick")
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {side} {design} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(lines[-1][len(RESULT) :])


def prepare(plan: Protocol, folder: Path) -> SearchData:
    """Views and encoder taps, cached in `folder`: the driver computes them once, each worker
    process reads the same arrays back (not timed: only the candidate's parts are)."""
    source = open_dataset(plan.source, cache_dir=folder / "builtin")
    encoder = build_encoder("mobilenet_v2", "imagenet")
    start = time.perf_counter()
    train_ids, val_ids = search_split(source.ids, 0.1, SEED, plan.train, plan.val)
    inputs = SearchDataInputs(
        source,
        train_ids,
        val_ids,
        encoder,
        "mobilenet_v2:imagenet",
        crop_size=plan.settings.crop_size,
        batch_size=plan.settings.val_batch_size,
        seed=SEED,
    )
    data = prepare_search_data(inputs, cache_root=folder)
    hits = sum(data.cache_hits.values())
    print(
        f"feature precompute (views + taps, {hits} cache hits): {time.perf_counter() - start:.2f} s"
    )
    return data


def total(run: dict) -> float:
    return sum(run["seconds"][part] for part in PARTS)


def spread(values: list[float], fmt: str = ".2f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def report(
    runs: dict[str, dict[str, list[dict]]], data: SearchData, plan: Protocol, peaks: list[float]
) -> None:
    """Per design: each side's seconds per part, the speed-up and stage 1's FLOP rate."""
    count = len(next(iter(runs.values()))["plain"])
    print(f"\nseconds, median of {count} runs each (total: min-max in brackets)")
    print(f"{'design':7} {'side':7}" + "".join(f"{p:>8}" for p in PARTS) + f"{'total':>22}")
    for design, sides in runs.items():
        for side in SIDES:
            cells = [statistics.median(r["seconds"][p] for r in sides[side]) for p in PARTS]
            whole = spread([total(r) for r in sides[side]])
            print(f"{design:7} {side:7}" + "".join(f"{c:8.2f}" for c in cells) + f"{whole:>22}")
    print()
    settings = plan.settings
    matmul, conv = peaks
    for design, sides in runs.items():
        plain, ours = ([total(r) for r in sides[side]] for side in SIDES)
        pairs = [p / o for p, o in zip(plain, ours)]
        genotype = KNOWN_DESIGNS[design]
        flops = decoder_train_flops(
            genotype, data.encoder, data.num_classes, settings.decoder, data.train_taps
        )
        work = flops * plan.train * settings.stage1.epochs / 1e9
        rate = {
            side: work / statistics.median(r["seconds"]["stage1"] for r in sides[side])
            for side in SIDES
        }
        reward = {side: spread([r["reward"] for r in sides[side]], ".3f") for side in SIDES}
        loss = {side: statistics.median(r["stage1_loss"] for r in sides[side]) for side in SIDES}
        print(
            f"{design}: segnas {statistics.median(plain) / statistics.median(ours):.2f}x as fast "
            f"as plain (back-to-back pairs {min(pairs):.2f}-{max(pairs):.2f}x)\n"
            f"  stage 1 GFLOP/s: segnas {rate['segnas']:.1f} ({rate['segnas'] / matmul:.0%} of "
            f"matmul, {rate['segnas'] / conv:.0%} of conv), plain {rate['plain']:.1f} "
            f"({rate['plain'] / matmul:.0%}, {rate['plain'] / conv:.0%})\n"
            f"  reward: segnas {reward['segnas']}, plain {reward['plain']}\n"
            f"  stage 1's last-epoch loss: segnas {loss['segnas']:.6f}, plain {loss['plain']:.6f}"
        )
    print(f"matmul after the runs: {matmul_gflops():.0f} GFLOP/s (before: {matmul:.0f})")


def drive(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = protocol(args.quick)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}")
    peaks = [matmul_gflops(), conv_gflops()]
    print(f"machine: matmul {peaks[0]:.0f} GFLOP/s, 3x3 conv fwd+bwd {peaks[1]:.0f} GFLOP/s")
    runs: dict[str, dict[str, list[dict]]] = {d: {s: [] for s in SIDES} for d in args.designs}
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(plan, Path(tmp))
        turn = 0
        for repeat in range(args.repeats):
            for design in args.designs:
                order = SIDES if turn % 2 == 0 else SIDES[::-1]
                turn += 1
                for side in order:
                    run = spawn(side, design, Path(tmp), args)
                    runs[design][side].append(run)
                    print(f"run {repeat + 1} {design:6} {side:7} {total(run):7.2f} s", flush=True)
    report(runs, data, plan, peaks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per side and design")
    parser.add_argument(
        "--threads", type=int, help="torch threads on both sides (default: torch's)"
    )
    parser.add_argument("--designs", nargs="+", default=list(KNOWN_DESIGNS), choices=KNOWN_DESIGNS)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 32 images, 1 epoch, 1 repeat"
    )
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "DESIGN"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        side, design = args.worker
        run = run_one(side, design, args.data, args.quick, args.threads)
        print(RESULT + json.dumps(run), flush=True)
        return
    if args.quick:
        args.repeats = 1
    drive(args)


if __name__ == "__main__":
    main()
