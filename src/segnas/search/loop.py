"""The outer loop: propose, evaluate, record, learn, checkpoint; resumable at any moment.

Order of one generation: the strategy proposes `generation` candidates; each is written to the
store as it starts; they run (here, in worker processes or on Ray) and each result is written
as it finishes; then they are fed back to the strategy and the termination rule in index order;
then the controller, baseline, p and every random state are checkpointed atomically. After a
kill, the run restarts the generation from the last checkpoint: the restored strategy proposes
the same candidates, those already finished in the store are kept, the rest re-run, so none
is lost or counted twice.

A proposed design equal to one the run already scored (symmetric duplicates merged) is not
trained again: its row copies the earlier result and names it in `reused_from`. The strategy
hears the reward as for any proposal; the termination rule's running mean does not count the
copy, and reports and re-scoring see the design once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import torch

from segnas.genotype import DEFAULT_SPACE, Genotype, SearchSpace, parse
from segnas.run_dir import ResumeError, atomic_torch_save, check_same
from segnas.search.early_stop import ProgressiveTermination
from segnas.search.store import SCORED, SearchStore
from segnas.search.strategies import Proposal, Strategy
from segnas.train.result import CandidateResult, ContinueRule

CHECKPOINT_FORMAT = "segnas-search/1"

Evaluator = Callable[[Genotype, ContinueRule], CandidateResult]
"""Trains and scores one candidate; must never raise (failures come back as results)."""


OnFinish = Callable[[int, CandidateResult], None]
"""Called with (job position, result) as each candidate finishes, so it is stored at once."""


class Executor(Protocol):
    """Runs a generation of candidates and returns their results in the same order."""

    def run(
        self,
        evaluator: Evaluator,
        jobs: list[tuple[Genotype, ContinueRule]],
        on_finish: OnFinish | None = None,
    ) -> list[CandidateResult]: ...

    def shutdown(self) -> None:
        """Stop whatever the executor started (processes, a Ray connection)."""


class LocalExecutor:
    """Candidates one after another in this process, with `threads` intra-op threads (None:
    leave torch's setting alone)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def run(
        self,
        evaluator: Evaluator,
        jobs: list[tuple[Genotype, ContinueRule]],
        on_finish: OnFinish | None = None,
    ) -> list[CandidateResult]:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        results = []
        for position, (genotype, rule) in enumerate(jobs):
            results.append(evaluator(genotype, rule))
            if on_finish is not None:
                on_finish(position, results[-1])
        return results

    def shutdown(self) -> None:
        """Nothing to stop: candidates ran in this process."""


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
        reuse: bool = True,
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
        self.reuse = reuse
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
        plan = self._plan(first, proposals)
        results = self._run_jobs(first, proposals, rules, plan)
        for k, proposal in enumerate(proposals):
            index = first + k
            result = results[index]
            reused = result.reused_from is not None
            decision = None
            if not reused:  # a copy is not a new sample of the stage-1 reward
                decision = self.termination.observe(index, rules[k], result.stage1_reward)
                self.store.set_decision(index, decision)
            self.strategy.observe(proposal, result.reward if result.status != "failed" else 0.0)
            if result.status == "failed" and not reused:
                self.failure_streak.append((index, result.failure or "no reason recorded"))
            elif not reused:
                self.failure_streak.clear()
            if self.on_result is not None:
                self.on_result(index, result, decision)
        self.next_index = first + count
        self._save_checkpoint()
        limit = self.max_consecutive_failures
        if limit is not None and len(self.failure_streak) >= limit:
            streak, self.failure_streak = self.failure_streak, []
            raise TooManyFailures(self.run_dir, streak)

    def _plan(self, first: int, proposals: list[Proposal]) -> dict[int, int | None]:
        """For each index of the generation: the earlier candidate whose result it reuses, or
        None to train it. Earlier generations lend only scored results (a failure may have
        been bad luck); within the generation the first of equal designs trains for all."""
        earlier = self._scored_designs(first) if self.reuse else {}
        in_generation: dict[Genotype, int] = {}
        plan: dict[int, int | None] = {}
        for k, proposal in enumerate(proposals):
            key = proposal.genotype.normalized()
            plan[first + k] = earlier.get(key, in_generation.get(key)) if self.reuse else None
            if plan[first + k] is None:
                in_generation[key] = first + k
        return plan

    def _scored_designs(self, before: int) -> dict[Genotype, int]:
        """Each scored design trained before index `before` (symmetric duplicates merged), at
        the first index that trained it."""
        designs: dict[Genotype, int] = {}
        for row in self.store.candidates():
            if row["id"] < before and row["status"] in SCORED and row["reused_from"] is None:
                designs.setdefault(parse(row["genotype"], self.space).normalized(), row["id"])
        return designs

    def _run_jobs(
        self,
        first: int,
        proposals: list[Proposal],
        rules: list[ContinueRule],
        plan: dict[int, int | None],
    ) -> dict[int, CandidateResult]:
        """Results of the generation by index: finished before a kill (kept), reused, or run
        now by the executor, each stored the moment it is known."""
        results: dict[int, CandidateResult] = {}
        jobs, job_indices = [], []
        for k, proposal in enumerate(proposals):
            index = first + k
            previous = self.store.result(index)
            if previous is not None and parse(previous.genotype, self.space) == proposal.genotype:
                results[index] = previous  # finished before a kill: keep, do not re-run
            elif plan[index] is None:
                self.store.start(index, str(proposal.genotype))
                jobs.append((proposal.genotype, rules[k]))
                job_indices.append(index)

        def store_result(position: int, result: CandidateResult) -> None:
            self.store.finish(job_indices[position], result)

        for index, result in zip(
            job_indices, self.executor.run(self.evaluator, jobs, store_result)
        ):
            results[index] = result
        for k, proposal in enumerate(proposals):
            index, source = first + k, plan[first + k]
            if index not in results and source is not None:
                results[index] = self._reuse(index, proposal.genotype, source, results)
        return results

    def _reuse(
        self, index: int, genotype: Genotype, source: int, results: dict[int, CandidateResult]
    ) -> CandidateResult:
        """Record candidate `index` as a copy of `source`'s result: one write, no training."""
        original = results.get(source) or self.store.result(source)
        assert original is not None, f"candidate {source} has no result to reuse"
        result = replace(original, genotype=str(genotype), seconds={}, reused_from=source)
        self.store.start(index, str(genotype))
        self.store.finish(index, result)
        return result

    def run(self) -> list[dict[str, Any]]:
        while self.next_index < self.budget:
            self.step()
        return self.store.candidates()

    def close(self) -> None:
        """Close the store; the executor belongs to whoever made it (`shutdown` it there)."""
        self.store.close()
