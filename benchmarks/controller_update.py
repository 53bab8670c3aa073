"""Cost of each strategy per candidate on the CPU, against one candidate's evaluation.

Times `propose()` and `observe()` of PPO (a full buffer, so `observe()` runs a complete update),
regularised evolution and random search, then trains and scores a few random designs at the
`proxy` preset in the same run, and prints the controller's share of a candidate's time. The
share must stay under 5%: the controller must never hold up the search.

    python benchmarks/controller_update.py [--repeats 50] [--threads 2] [--candidates 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console

from segnas.genotype import DEFAULT_SPACE
from segnas.search.settings import SearchSettings
from segnas.search.strategies import PPOSettings, Strategy, make_strategy
from segnas.settings_io import load_layers

BUDGET_SHARE = 0.05


def timed(repeats: int, action: Callable[[], object]) -> list[float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return seconds


def strategy_seconds(strategy: Strategy, repeats: int, warmup: int) -> float:
    """Median seconds of one propose() + observe() once `warmup` rewards were fed back."""
    rewards = random.Random(0)
    for _ in range(warmup):
        strategy.observe(strategy.propose(), rewards.random())

    def one() -> None:
        strategy.observe(strategy.propose(), rewards.random())

    return statistics.median(timed(repeats, one))


def candidate_seconds(count: int) -> float:
    """Median seconds to train and score a random design at the proxy preset, data prepared."""
    from segnas.devices import resolve_device
    from segnas.experiment.reward_noise import random_designs
    from segnas.search.run import SearchEvaluator, prepare

    config = load_layers(SearchSettings, "proxy")
    with tempfile.TemporaryDirectory() as folder:
        data = prepare(config, Path(folder), resolve_device("cpu"), Console(quiet=True))
    evaluator = SearchEvaluator(config.evaluation, data, config.seed)
    designs = random_designs(count, seed=1)
    return statistics.median(timed(count, lambda: evaluator.score(designs.pop(), 0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=3, help="proxy candidates to time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ppo = PPOSettings()
    print(
        f"PPO defaults: lr {ppo.lr}, buffer {ppo.buffer_size}, minibatch {ppo.minibatch_size},"
        f" {ppo.update_epochs} epoch(s); {torch.get_num_threads()} threads; {args.repeats} repeats"
    )
    costs = {
        name: strategy_seconds(
            make_strategy(name, DEFAULT_SPACE, seed=0), args.repeats, warmup=ppo.buffer_size
        )
        for name in ("ppo", "evolution", "random")
    }
    candidate = candidate_seconds(args.candidates)
    print(f"proxy candidate (median of {args.candidates}): {candidate:.2f} s")
    print(f"{'strategy':<10} {'per candidate':>14} {'share':>8}")
    for name, seconds in costs.items():
        share = seconds / candidate
        verdict = "ok" if share < BUDGET_SHARE else "OVER 5%"
        print(f"{name:<10} {seconds * 1e3:11.1f} ms {share:8.2%}  {verdict}")


if __name__ == "__main__":
    main()
