"""What latency-aware search pays per candidate: timing a design's deployed form, against
training the candidate, measured side by side in one run.

For each of N designs (drawn with a fixed seed): the candidate's evaluation (both stages, the
search's default settings and data, early termination off), then its latency measurement as
a latency-aware search makes it (the deployed form: final decoder width and repeats, no
auxiliary heads, segnas's runtime, 512x512, the search's runs and warm-up; the cache missed),
then the same lookup again (the cache hit a second search gets). Designs alternate between
the two kinds of work, so drift hits both. Prints one row per design and the medians.

    python benchmarks/latency_cost.py [--designs 8] [--targets cpu,onnxruntime-cpu] [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default="cpu", help="comma-separated latency targets")
    parser.add_argument("--size", type=int, default=512, help="deployment size")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="tiny data and sizes (for tests)")
    args = parser.parse_args()

    import os

    import torch
    from rich.console import Console

    from segnas.final.latency import DeployedLatency
    from segnas.genotype import DEFAULT_SPACE, sample
    from segnas.search.early_stop import Gate
    from segnas.search.latency import LatencyCache, LatencySettings
    from segnas.search.run import SearchEvaluator, prepare
    from segnas.search.settings import SearchSettings
    from segnas.settings_io import replace_paths

    settings = SearchSettings()
    if args.quick:
        changes = [("train_count", 32, None), ("val_count", 16, None), ("teacher", "none", None)]
        changes += [("evaluation.stage1.epochs", 1, None)]
        settings = replace_paths(settings, changes)
    data = prepare(settings, None, torch.device("cpu"), Console(stderr=True))
    evaluator = SearchEvaluator(settings.evaluation, data, settings.seed)
    designs = [
        sample(random.Random(args.seed * 1000 + k), DEFAULT_SPACE) for k in range(args.designs)
    ]
    always = Gate(enabled=False, p=1.0, running_average=None, coin=0.0)
    targets = args.targets.split(",")
    latency = {t: LatencySettings(target=t, size=args.size, threads=args.threads) for t in targets}
    policy = os.environ.get("OMP_WAIT_POLICY", "default").lower()
    print(
        f"# {len(designs)} designs, deployment {args.size}x{args.size}, "
        f"{latency[targets[0]].runs} runs after {latency[targets[0]].warmup} warm-up, "
        f"threads {args.threads or 'all'}, OpenMP waiting {policy}, training threads "
        f"{torch.get_num_threads()}"
    )
    header = f"{'design':>6} {'train s':>8}"
    for t in targets:
        header += f" {t + ' s':>20} {'hit ms':>7} {'share':>6}"
    print(header)
    columns: dict[str, list[float]] = {"train": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k, design in enumerate(designs):
            start = time.perf_counter()
            result = evaluator(design, always)
            train = time.perf_counter() - start
            if result.status == "failed":
                raise SystemExit(f"design {k} failed: {result.failure}")
            columns["train"].append(train)
            line = f"{k:>6} {train:>8.2f}"
            for t in targets:
                cache = LatencyCache(Path(tmp) / f"{t}.sqlite")
                meter = DeployedLatency(latency[t], data.num_classes, settings.encoder, cache)
                miss, hit = meter(design), meter(design)
                assert not miss.cached and hit.cached
                columns.setdefault(t, []).append(miss.seconds)
                columns.setdefault(t + " hit", []).append(hit.seconds * 1e3)
                line += f" {miss.seconds:>20.2f} {hit.seconds * 1e3:>7.2f}"
                line += f" {miss.seconds / (train + miss.seconds):>6.1%}"
                cache.close()
            print(line, flush=True)
    summary = f"{'median':>6} {statistics.median(columns['train']):>8.2f}"
    for t in targets:
        miss, hit = statistics.median(columns[t]), statistics.median(columns[t + " hit"])
        share = miss / (statistics.median(columns["train"]) + miss)
        summary += f" {miss:>20.2f} {hit:>7.2f} {share:>6.1%}"
    print(summary)


if __name__ == "__main__":
    main()
