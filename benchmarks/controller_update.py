"""Cost of the controller per candidate on the CPU: one `propose()` and one `observe()`.

`observe()` is timed with a full buffer, so it runs a complete PPO update. The authors' code
spent about 5 s per candidate here (100 optimiser steps on minibatches of one sample); ours must
stay well under 0.1 s so the controller never holds up the search.

    python benchmarks/controller_update.py [--repeats 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import torch

from segnas.genotype import DEFAULT_SPACE
from segnas.search.strategies import PPOConfig, PPOStrategy

AUTHORS_SECONDS = 5.0
"""The authors' controller update per candidate: 100 optimiser steps on minibatches of one."""


def timed(repeats: int, action: Callable[[], object]) -> list[float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return seconds


def report(name: str, seconds: list[float]) -> None:
    print(
        f"{name:<10} median {statistics.median(seconds) * 1e3:7.1f} ms"
        f"   range {min(seconds) * 1e3:6.1f} - {max(seconds) * 1e3:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = PPOConfig()
    strategy = PPOStrategy(DEFAULT_SPACE, config, seed=0)
    rewards = random.Random(0)
    for _ in range(config.buffer_size):  # fill the buffer, warm up
        strategy.observe(strategy.propose(), rewards.random())
    proposals = [strategy.propose() for _ in range(args.repeats)]
    queue = iter(proposals)

    print(
        f"PPO defaults: buffer {config.buffer_size}, minibatch {config.minibatch_size}, "
        f"{config.update_epochs} epoch(s); {torch.get_num_threads()} threads; "
        f"{args.repeats} repeats"
    )
    report("propose()", timed(args.repeats, strategy.propose))
    observe = timed(args.repeats, lambda: strategy.observe(next(queue), rewards.random()))
    report("observe()", observe)
    print(f"authors    about {AUTHORS_SECONDS:.0f} s per candidate (100 steps of batch 1)")
    print(f"speed-up   {AUTHORS_SECONDS / statistics.median(observe):.0f}x (median observe)")


if __name__ == "__main__":
    main()
