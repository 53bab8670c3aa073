"""The outer loop: propose, evaluate, record, learn, checkpoint; resumable at any moment.

Order of one generation: the strategy proposes `generation` candidates; each is written
to the store as it starts; they run (here or on Ray); their results are written, then fed back
to the strategy and the termination rule in index order; then the controller, baseline, p and
every random state are checkpointed atomically. After a kill, the run restarts the generation
from the last checkpoint: the restored strategy proposes the same candidates, those already
finished in the store are reused, the rest re-run, so none is lost or counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch

from segnas.genotype import DEFAULT_SPACE, Genotype, SearchSpace, parse
from segnas.run_dir import ResumeError, atomic_torch_save, check_same
from segnas.search.early_stop import ProgressiveTermination
from segnas.search.store import SearchStore
from segnas.search.strategies import Strategy
from segnas.train.result import CandidateResult, ContinueRule

CHECKPOINT_FORMAT = "segnas-search/1"

Evaluator = Callable[[Genotype, ContinueRule], CandidateResult]
"""Trains and scores one candidate; must never raise (failures come back as results)."""


class Executor(Protocol):
    """Runs a generation of candidates and returns their results in the same order."""

    def run(
        self, evaluator: Evaluator, jobs: list[tuple[Genotype, ContinueRule]]
    ) -> list[CandidateResult]: ...


class LocalExecutor:
    """Candidates one after another in this process."""

    def run(
        self, evaluator: Evaluator, jobs: list[tuple[Genotype, ContinueRule]]
    ) -> list[CandidateResult]:
        return [evaluator(genotype, rule) for genotype, rule in jobs]


class TooManyFailures(RuntimeError):
    """K candidates in a row failed: most likely a bug or a bad setting, not bad designs.

    Raised after the generation was recorded and checkpointed, so the run resumes where it
    stopped once the cause is fixed (the streak starts again at zero in the resumed process).
    """

    def __init__(self, run_dir: Path, streak: list[tuple[int, str]]) -> None:
        self.run_dir, self.streak = run_dir, streak
        lines = "\n".join(f"  #{index}: {reason}" for index, reason in streak)
        super().__init__(
            f"{len(streak)} candidates in a row failed; stopping so the budget is not spent on "
            f"failures:\n{lines}\nFix the cause, then continue with "
            f"`segnas search --resume {run_dir}`."
        )


def check_identity(store: SearchStore, identity: dict[str, Any]) -> None:
    """Store the run's identity, or refuse to go on when a resumed run's identity differs."""
    stored = store.get_meta("identity")
    if stored is None:
        store.set_meta("identity", identity)
        return
    check_same(str(store.path.parent), stored, identity)


class SearchLoop:
    """Drives one run; `step()` does one generation, `run()` all that the budget allows."""

    def __init__(
        self,
        run_dir: Path,
        strategy: Strategy,
        termination: ProgressiveTermination,
        evaluator: Evaluator,
        *,
        budget: int,
        generation: int = 1,
        executor: Executor | None = None,
        space: SearchSpace = DEFAULT_SPACE,
        on_result: Callable[[int, CandidateResult, dict | None], None] | None = None,
        max_consecutive_failures: int | None = 5,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.store = SearchStore(self.run_dir / "search.sqlite")
        self.strategy = strategy
        self.termination = termination
        self.evaluator = evaluator
        self.budget = budget
        self.generation = generation
        self.executor = executor or LocalExecutor()
        self.space = space
        self.on_result = on_result
        self.max_consecutive_failures = max_consecutive_failures
        self.failure_streak: list[tuple[int, str]] = []
        self.next_index = 0
        self._load_checkpoint()

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def _load_checkpoint(self) -> None:
        if not self.checkpoint_path.is_file():
            return
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ResumeError(f"{self.checkpoint_path}: format {state.get('format')!r}")
        self.strategy.load_state_dict(state["strategy"])
        self.termination.load_state_dict(state["termination"])
        self.next_index = int(state["next"])

    def _save_checkpoint(self) -> None:
        atomic_torch_save(
            {
                "format": CHECKPOINT_FORMAT,
                "next": self.next_index,
                "strategy": self.strategy.state_dict(),
                "termination": self.termination.state_dict(),
            },
            self.checkpoint_path,
        )

    def step(self) -> None:
        """Propose, run and feed back one generation, then checkpoint."""
        first = self.next_index
        count = min(self.generation, self.budget - first)
        proposals = [self.strategy.propose() for _ in range(count)]
        rules = [self.termination.rule(first + k) for k in range(count)]
        results: dict[int, CandidateResult] = {}
        jobs, job_indices = [], []
        for k, proposal in enumerate(proposals):
            index = first + k
            previous = self.store.result(index)
            if previous is not None and parse(previous.genotype, self.space) == proposal.genotype:
                results[index] = previous  # finished before a kill: reuse, do not re-run
                continue
            self.store.start(index, str(proposal.genotype))
            jobs.append((proposal.genotype, rules[k]))
            job_indices.append(index)
        for index, result in zip(job_indices, self.executor.run(self.evaluator, jobs)):
            results[index] = result
        for k, proposal in enumerate(proposals):
            index = first + k
            result = results[index]
            decision = self.termination.observe(first + k, rules[k], result.stage1_reward)
            if index in job_indices:
                self.store.finish(index, result, decision)
            self.strategy.observe(proposal, result.reward if result.status != "failed" else 0.0)
            if result.status == "failed":
                self.failure_streak.append((index, result.failure or "no reason recorded"))
            else:
                self.failure_streak.clear()
            if self.on_result is not None:
                self.on_result(index, result, decision)
        self.next_index = first + count
        self._save_checkpoint()
        limit = self.max_consecutive_failures
        if limit is not None and len(self.failure_streak) >= limit:
            streak, self.failure_streak = self.failure_streak, []
            raise TooManyFailures(self.run_dir, streak)

    def run(self) -> list[dict[str, Any]]:
        while self.next_index < self.budget:
            self.step()
        return self.store.candidates()

    def close(self) -> None:
        self.store.close()
