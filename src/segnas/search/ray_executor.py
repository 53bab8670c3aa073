"""Candidates as Ray tasks: one GPU (or `cpus_per_task` CPUs) each, the controller stays on the
driver. A task runs with as many intra-op threads as CPUs it was given, and with passive OpenMP
waiting, so tasks sharing a node do not spin against each other.

Results come back in the order the jobs were given, whatever order they finish in, so a seed
gives the same run for any number of workers. A task that raises, or whose worker dies after
one retry, comes back as a failed candidate and the search goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from segnas.genotype import Genotype
from segnas.train.result import CandidateResult, ContinueRule


def _run_candidate(evaluator: Any, genotype: Genotype, rule: ContinueRule) -> CandidateResult:
    import ray

    from segnas.devices import tune_cpu

    tune_cpu()
    torch.set_num_threads(
        max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    )
    if ray.get_gpu_ids() and hasattr(evaluator, "to"):
        evaluator = evaluator.to(torch.device("cuda"))
    return evaluator(genotype, rule)


class RayExecutor:
    """Runs each generation's candidates in parallel on a Ray cluster (local when no address)."""

    def __init__(
        self,
        address: str | None = None,
        cpus_per_task: float = 1,
        gpus_per_task: float | None = None,
        retries: int = 1,
        **init_kwargs: Any,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'segnas[ray]'") from None
        if not ray.is_initialized():
            # Workers are separate processes: give them the passive OpenMP waiting of this one.
            env = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
            init_kwargs.setdefault("runtime_env", {"env_vars": env})
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **init_kwargs)
        if gpus_per_task is None:
            gpus_per_task = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        self._task = ray.remote(
            num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=retries
        )(_run_candidate)
        self._evaluator: Any = None
        self._evaluator_ref: Any = None

    def run(
        self,
        evaluator: Any,
        jobs: list[tuple[Genotype, ContinueRule]],
        on_finish: Callable[[int, CandidateResult], None] | None = None,
    ) -> list[CandidateResult]:
        import ray

        if evaluator is not self._evaluator:
            self._evaluator, self._evaluator_ref = evaluator, ray.put(evaluator)
        refs = [self._task.remote(self._evaluator_ref, genotype, rule) for genotype, rule in jobs]
        results: list[CandidateResult] = []
        for (genotype, _), ref in zip(jobs, refs):
            if on_finish is not None and results:
                on_finish(len(results) - 1, results[-1])
            try:
                results.append(ray.get(ref))
            except Exception as error:  # noqa: BLE001 - a lost task fails only its candidate
                cause = getattr(error, "cause", None) or error  # RayTaskError wraps the original
                results.append(
                    CandidateResult(
                        genotype=str(genotype),
                        failure=f"ray task failed: {type(cause).__name__}: {str(cause)[:500]}",
                    )
                )
        if on_finish is not None and results:
            on_finish(len(results) - 1, results[-1])
        return results

    def shutdown(self) -> None:
        import ray

        ray.shutdown()
