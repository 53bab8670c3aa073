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

With a latency meter, each design of a generation is timed in its deployed form before any of
them trains (here, while the workers wait, so the timings are not disturbed by training); a
design over the objective's cap is recorded as over-budget and not trained. The strategy hears
the objective's value (the reward itself, or traded against latency); failed and over-budget
designs count as 0.

With a time budget, a generation starts only when the time spent so far (over every process
of the run, kept in the store) plus the longest generation yet and the time kept back for
re-scoring fit in it; otherwise the run stops after its last checkpoint, and a resume with a
larger budget goes on from there.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import torch

from segnas.genotype import DEFAULT_SPACE, Genotype, SearchSpace, parse
from segnas.run_dir import ResumeError, atomic_torch_save, check_same
from segnas.search.early_stop import ProgressiveTermination
from segnas.search.latency import LatencyMeter
from segnas.search.objective import ObjectiveSettings
from segnas.search.store import SCORED, SearchStore
from segnas.search.strategies import Proposal, Strategy
from segnas.train.result import CandidateResult, ContinueRule

CHECKPOINT_FORMAT = "segnas-search/1"
STRATEGY_STATS = "strategy_stats"
"""Store meta key: one entry per finished generation, `first` candidate, `count`, time `at` and
the strategy's `stats()` (baseline, loss, entropy, updates, ...), oldest first."""

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
        objective: ObjectiveSettings | None = None,
        latency: LatencyMeter | None = None,
        time_budget: float | None = None,
        reserve_candidates: int = 0,
        started: float | None = None,
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
        self.objective = objective or ObjectiveSettings()
        if self.objective.needs_latency and latency is None:
            raise ValueError(f"objective {self.objective.describe()}: needs a latency meter")
        self.latency = latency
        self.time_budget = time_budget
        self.reserve_candidates = reserve_candidates
        """Candidate trainings the time budget keeps back for after the loop (re-scoring)."""
        self.stop_reason: str | None = None
        """Why `run()` stopped before the budget (the time budget), or None."""
        self.failure_streak: list[tuple[int, str]] = []
        self.next_index = 0
        self._load_checkpoint()
        self._clock = time.monotonic() if started is None else started
        """`time.monotonic()` when this process began the run (its set-up counts too)."""
        self._spent_before = float(self.store.get_meta("elapsed_seconds", 0.0))

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
        started = time.monotonic()
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
            trained = not reused and result.status != "over-budget"
            decision = None
            if trained:  # a copy is not a new sample of the stage-1 reward
                decision = self.termination.observe(index, rules[k], result.stage1_reward)
                self.store.set_decision(index, decision)
            self.strategy.observe(proposal, self._heard(result))
            if result.status == "failed" and not reused:
                self.failure_streak.append((index, result.failure or "no reason recorded"))
            elif trained:
                self.failure_streak.clear()
            if self.on_result is not None:
                self.on_result(index, result, decision)
        self.next_index = first + count
        self._record_strategy_stats(first, count)
        self._save_checkpoint()
        self._record_time(time.monotonic() - started)
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
        """Results of the generation by index: finished before a kill (kept), reused, over the
        latency cap, or run now by the executor, each stored the moment it is known."""
        results: dict[int, CandidateResult] = {}
        jobs, job_indices, timed = [], [], {}
        for k, proposal in enumerate(proposals):
            index = first + k
            previous = self.store.result(index)
            if previous is not None and parse(previous.genotype, self.space) == proposal.genotype:
                results[index] = previous  # finished before a kill: keep, do not re-run
            elif plan[index] is None:
                self.store.start(index, str(proposal.genotype))
                timed[index], final = self._measure(proposal.genotype)
                if final:  # over the cap, or its latency could not be measured
                    results[index] = timed[index]
                    self.store.finish(index, timed[index])
                    continue
                jobs.append((proposal.genotype, rules[k]))
                job_indices.append(index)

        def with_latency(position: int, result: CandidateResult) -> CandidateResult:
            measured = timed[job_indices[position]]
            seconds = {**result.seconds, **measured.seconds}
            return replace(
                result, latency_ms=measured.latency_ms, latency=measured.latency, seconds=seconds
            )

        def store_result(position: int, result: CandidateResult) -> None:
            self.store.finish(job_indices[position], with_latency(position, result))

        ran = self.executor.run(self.evaluator, jobs, store_result)
        for position, (index, result) in enumerate(zip(job_indices, ran)):
            results[index] = with_latency(position, result)
        for k, proposal in enumerate(proposals):
            index, source = first + k, plan[first + k]
            if index not in results and source is not None:
                results[index] = self._reuse(index, proposal.genotype, source, results)
        return results

    def _measure(self, genotype: Genotype) -> tuple[CandidateResult, bool]:
        """The design's deployed latency as a result, and whether that result is final: over
        the cap (status over-budget) or not measurable (failed); else its latency fields go
        onto the trained result."""
        result = CandidateResult(genotype=str(genotype), status="over-budget")
        if self.latency is None:
            return result, False
        start = time.perf_counter()
        try:
            record = self.latency(genotype)
        except Exception as error:  # noqa: BLE001 - recorded, the search goes on
            result.status, result.traceback = "failed", traceback.format_exc()
            result.failure = f"latency measurement failed: {type(error).__name__}: {error}"
            result.seconds = {"latency": time.perf_counter() - start}
            return result, True
        result.latency_ms, result.latency = record.mean_ms, record.to_dict()
        result.seconds = {"latency": record.seconds}
        if not self.objective.over_cap(record.mean_ms):
            return result, False
        result.failure = (
            f"deployed latency {record.mean_ms:.1f} ms over the cap of "
            f"{self.objective.max_latency_ms:g} ms; not trained"
        )
        return result, True

    def _heard(self, result: CandidateResult) -> float:
        """What the strategy learns from a result: the objective's value; 0 for a failed or
        over-budget design (or one whose latency could not be measured)."""
        if not result.scored:
            return 0.0
        value = self.objective.value(result.reward, result.latency_ms)
        return 0.0 if value is None else float(value)

    @property
    def spent_seconds(self) -> float:
        """Wall time of the run so far, over every process that ran it."""
        return self._spent_before + time.monotonic() - self._clock

    def _record_strategy_stats(self, first: int, count: int) -> None:
        """Append the strategy's statistics after this generation to the store's
        ``strategy_stats`` list (the dashboard's controller view). A generation re-run after a
        resume replaces its entry and drops any later one."""
        history = [g for g in self.store.get_meta(STRATEGY_STATS, []) if g["first"] < first]
        entry = {"first": first, "count": count, "at": time.time(), **self.strategy.stats()}
        self.store.set_meta(STRATEGY_STATS, [*history, entry])

    def _record_time(self, generation_seconds: float) -> None:
        """Keep the run's time and its longest generation in the store (for the time budget)."""
        longest = max(generation_seconds, float(self.store.get_meta("longest_generation", 0.0)))
        self.store.set_meta("longest_generation", longest)
        self.store.set_meta("elapsed_seconds", self.spent_seconds)

    def reserve_seconds(self) -> float:
        """Time kept back for `reserve_candidates` trainings, at the mean time of a trained
        candidate so far (latency measurements left out)."""
        times = [
            sum(v for k, v in (row["seconds"] or {}).items() if k != "latency")
            for row in self.store.candidates()
            if row["status"] in SCORED and row["reused_from"] is None
        ]
        mean = sum(times) / len(times) if times else 0.0
        return self.reserve_candidates * mean

    def time_left_for_generation(self) -> bool:
        """Whether the next generation (as long as the longest yet) and the time kept back for
        re-scoring still fit in the time budget; the first generation always runs."""
        if self.time_budget is None:
            return True
        longest = float(self.store.get_meta("longest_generation", 0.0))
        needed = self.spent_seconds + longest + self.reserve_seconds()
        return longest == 0.0 or needed <= self.time_budget

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
        """Generations until the budget is spent or the time budget would be exceeded (then
        `stop_reason` says so, also in the store's meta `stopped`)."""
        self.store.set_meta("stopped", None)
        while self.next_index < self.budget:
            if not self.time_left_for_generation():
                self.stop_reason = (
                    f"time budget: {self.spent_seconds:.0f} s of {self.time_budget:.0f} s spent, "
                    f"the next generation would not fit; {self.next_index} of {self.budget} "
                    "candidates ran"
                )
                self.store.set_meta("stopped", self.stop_reason)
                break
            self.step()
        return self.store.candidates()

    def close(self) -> None:
        """Close the store; the executor belongs to whoever made it (`shutdown` it there)."""
        self.store.close()
