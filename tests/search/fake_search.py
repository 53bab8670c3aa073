"""A search with a cheap deterministic evaluator, run as a script by the kill tests.

    python fake_search.py RUN_DIR STRATEGY BUDGET [KILL]

KILL names where the process SIGKILLs itself: `start:N`, `finish:N` (inside the N-th store
write, its transaction open), `checkpoint:N` (checkpoint written, not yet renamed into place),
`observe:N`, or `time:SECONDS` (at a seeded random moment).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from segnas.genotype import DEFAULT_SPACE, Genotype
from segnas.search import loop as loop_module
from segnas.search.early_stop import ProgressiveTermination, TerminationSettings
from segnas.search.evolution import EvolutionSettings
from segnas.search.loop import SearchLoop
from segnas.search.store import SearchStore
from segnas.search.strategies import make_strategy
from segnas.train.result import CandidateResult, ContinueRule


def fake_evaluator(genotype: Genotype, rule: ContinueRule) -> CandidateResult:
    """Reward = a smooth function of the tokens; first op 10 (zero) fails the candidate."""
    tokens = genotype.tokens()
    ranges = DEFAULT_SPACE.token_ranges()
    result = CandidateResult(genotype=str(genotype), params=sum(tokens), madds=len(tokens))
    time.sleep(0.002)
    if genotype.first_op == 10:
        result.failure = "ValueError: zero first op (injected)"
        return result
    score = sum(t / (r - 1) for t, r in zip(tokens, ranges) if r > 1) / len(tokens)
    result.stage1_reward = result.reward = round(score * 0.8, 6)
    result.seconds = {"stage1": 0.001}
    if not rule(result.stage1_reward):
        result.status = "stopped"
        return result
    result.stage2_reward = result.reward = round(score, 6)
    result.status = "done"
    return result


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill(kill: str) -> None:
    phase, _, value = kill.partition(":")
    if phase == "time":
        delay = float(value)
        threading.Timer(delay, _kill).start()
        return
    target = int(value)
    calls = {"n": 0}

    def counted() -> bool:
        calls["n"] += 1
        return calls["n"] == target

    if phase == "start":
        original_start = SearchStore.start

        def start(self, index, genotype):
            original_start(self, index, genotype)
            if counted():
                _kill()

        SearchStore.start = start
    elif phase == "finish":
        original_finish = SearchStore.finish

        def finish(self, index, result, decision):
            if counted():
                self.db.execute("BEGIN")
                original_finish(self, index, result, decision)
                _kill()  # the transaction is still open: the write must not survive
            original_finish(self, index, result, decision)

        SearchStore.finish = finish
    elif phase == "checkpoint":
        original_save = loop_module.atomic_torch_save

        def save(payload, path):
            if counted():
                import torch

                torch.save(payload, Path(path).with_name(".checkpoint.pt.tmp"))
                _kill()  # new state written beside the old checkpoint, never renamed over it
            original_save(payload, path)

        loop_module.atomic_torch_save = save
    elif phase == "observe":
        original_on = SearchLoop.step

        def step(self):
            original_observe = self.strategy.observe

            def observe(proposal, reward):
                original_observe(proposal, reward)
                if counted():
                    _kill()

            self.strategy.observe = observe
            original_on(self)

        SearchLoop.step = step
    else:
        raise SystemExit(f"unknown kill phase {phase!r}")


SMALL_EVOLUTION = EvolutionSettings(population=4, sample_size=2)


def run_fake_search(run_dir: Path, strategy: str, budget: int, generation: int = 1) -> None:
    loop = SearchLoop(
        run_dir,
        # A population smaller than the budget, so evolution gets past its random start.
        make_strategy(strategy, DEFAULT_SPACE, seed=3, evolution=SMALL_EVOLUTION),
        ProgressiveTermination(TerminationSettings(anneal_over=1000), seed=3),
        fake_evaluator,
        budget=budget,
        generation=generation,
    )
    try:
        loop.run()
    finally:
        loop.close()


if __name__ == "__main__":
    if len(sys.argv) > 4:
        install_kill(sys.argv[4])
    run_fake_search(
        Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(os.environ.get("GENERATION", "1"))
    )
