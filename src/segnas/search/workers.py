"""Several candidates at once on one machine: worker processes with a share of the cores each.

Candidates with one thread each in separate processes never wait for each other's threads, so
another busy process on the cores slows them 1.5x where one two-thread candidate slowed 3.8x;
on a quiet machine they finish as many candidates per hour as one candidate with every core's
thread (README, "Candidates per hour"). `ProcessExecutor` keeps `workers` processes alive for
the whole search; each gets the evaluator once (its tensors through shared memory, not copied)
and then one candidate at a time. Results come back in job order whatever order they finish
in, so a seed gives the same run for any number of workers. A worker that dies mid-candidate is
replaced and the candidate runs again once; dying a second time, it is recorded as failed.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from segnas.genotype import Genotype
from segnas.train.result import CandidateResult, ContinueRule

OnFinish = Callable[[int, CandidateResult], None]
"""Called with (job position, result) as each candidate finishes, before the generation ends."""


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask: `taskset`, cgroups' cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class WorkerPlan:
    """How many candidates run at once, and the intra-op threads each one gets."""

    workers: int
    threads: int

    def __str__(self) -> str:
        noun = "worker" if self.workers == 1 else "workers"
        return f"{self.workers} {noun} x {self.threads} thread{'s' * (self.threads > 1)}"


def plan_workers(
    workers: int | None = None,
    threads: int | None = None,
    *,
    device_type: str = "cpu",
    cores: int | None = None,
) -> WorkerPlan:
    """The default: one thread per candidate and as many candidates as cores on the CPU (on two
    cores: as fast as one two-thread candidate when quiet, 2.6x faster beside a busy process);
    one candidate with every core's thread on a GPU, where the device, not the cores, is
    shared. Either number can be given; the other fills the cores."""
    cores = cores or usable_cores()
    for name, value in (("workers", workers), ("threads_per_worker", threads)):
        if value is not None and value < 1:
            raise ValueError(f"{name}: got {value}, expected >= 1 or None (automatic)")
    if device_type != "cpu":
        return WorkerPlan(workers or 1, threads or cores)
    if workers is None:
        threads = threads or 1
        return WorkerPlan(max(1, cores // threads), threads)
    return WorkerPlan(workers, threads or max(1, cores // workers))


def longest_first(evaluator: Any, jobs: list[tuple[Genotype, ContinueRule]]) -> list[int]:
    """Job positions in the order to start them: most expensive first when the evaluator can
    estimate (`estimate_cost(genotype)`), else as given.

    A generation ends when its last candidate does; candidates of one search differ up to 4x
    in time, so starting the long ones first leaves fewer workers idle at the end (longest
    processing time first: 94% of the cores busy for 4 candidates on 2 workers, against 87% in
    index order, in a simulation with the measured spread). Results still come back by index.
    """
    estimate = getattr(evaluator, "estimate_cost", None)
    if estimate is None:
        return list(range(len(jobs)))
    costs = [estimate(genotype) for genotype, _ in jobs]
    return sorted(range(len(jobs)), key=lambda k: (-costs[k], k))


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the search process dies (a kill -9 included)."""
    if platform.system() == "Linux":
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_main(conn: Connection, evaluator: Any, threads: int) -> None:
    """A worker's whole life: set up its threads, then run candidates until told to stop."""
    _die_with_parent()
    import torch

    from segnas.devices import tune_cpu

    torch.set_num_threads(threads)
    tune_cpu()
    conn.send("ready")
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        position, genotype, rule = message
        conn.send((position, evaluator(genotype, rule)))


class _Worker:
    def __init__(self, context: Any, evaluator: Any, threads: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, evaluator, threads), daemon=True
        )
        self.process.start()
        child.close()
        self.job: int | None = None

    def wait_ready(self) -> None:
        """Block until the worker has torch loaded and the evaluator unpickled."""
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            message = None
        if message != "ready":
            self.process.join(timeout=5)
            raise RuntimeError(
                f"a candidate worker process died while starting (exit code "
                f"{self.process.exitcode}); its error is printed above"
            )

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class ProcessExecutor:
    """Runs a generation's candidates in `plan.workers` processes, `plan.threads` threads each.

    Workers start on the first generation (a few seconds: a fresh Python imports torch) and
    stay for the rest of the search. `retries` is how often a candidate whose worker died runs
    again before it is recorded as failed.
    """

    def __init__(self, plan: WorkerPlan, *, retries: int = 1) -> None:
        import torch.multiprocessing as mp

        self.plan, self.retries = plan, retries
        self._context = mp.get_context("spawn")  # fork would copy OpenMP's state, which hangs
        self._workers: list[_Worker] = []
        self._evaluator: Any = None

    def start(self, evaluator: Any) -> None:
        """Start the workers for `evaluator` (once; a new evaluator restarts them) and wait
        until each is ready. A worker that cannot start raises: nothing would run anywhere."""
        if evaluator is not self._evaluator:
            self.shutdown()
            self._evaluator = evaluator
        new = []
        while len(self._workers) < self.plan.workers:
            new.append(_Worker(self._context, evaluator, self.plan.threads))
            self._workers.append(new[-1])
        for worker in new:
            worker.wait_ready()

    def run(
        self,
        evaluator: Any,
        jobs: list[tuple[Genotype, ContinueRule]],
        on_finish: OnFinish | None = None,
    ) -> list[CandidateResult]:
        self.start(evaluator)
        results: list[CandidateResult | None] = [None] * len(jobs)
        deaths = [0] * len(jobs)
        waiting = deque(longest_first(evaluator, jobs))
        while waiting or any(w.job is not None for w in self._workers):
            for worker in self._workers:
                if worker.job is None and waiting:
                    worker.job = waiting.popleft()
                    genotype, rule = jobs[worker.job]
                    worker.conn.send((worker.job, genotype, rule))
            busy = [w for w in self._workers if w.job is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                position = worker.job
                assert position is not None
                if worker.conn in ready and self._receive(worker, results, on_finish):
                    continue
                if worker.conn in ready or worker.process.sentinel in ready:  # it died
                    worker.process.join(timeout=5)
                    deaths[position] += 1
                    if deaths[position] > self.retries:
                        results[position] = _died(jobs[position][0], worker, deaths[position])
                        if on_finish is not None:
                            on_finish(position, results[position])
                    else:
                        waiting.appendleft(position)
                    self._replace(worker)
        return [r for r in results if r is not None]

    def _receive(self, worker: _Worker, results: list, on_finish: OnFinish | None) -> bool:
        """Take a finished result from `worker`; False when its pipe closed (it died)."""
        try:
            position, result = worker.conn.recv()
        except (EOFError, OSError):
            return False
        results[position] = result
        worker.job = None
        if on_finish is not None:
            on_finish(position, result)
        return True

    def _replace(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()
        fresh = _Worker(self._context, self._evaluator, self.plan.threads)
        self._workers[self._workers.index(worker)] = fresh
        fresh.wait_ready()

    def shutdown(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers, self._evaluator = [], None


def _died(genotype: Genotype, worker: _Worker, times: int) -> CandidateResult:
    code = worker.process.exitcode
    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    return CandidateResult(
        genotype=str(genotype),
        failure=f"worker process died ({how}) {times} times while training this candidate",
    )
