"""The scores of `segnas experiment ablation`, one record per (setup, design), kept in a JSON file
rewritten atomically after every candidate: a killed experiment loses at most the candidates it
was training, and a rerun trains only what is not recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segnas.genotype import Genotype
from segnas.run_dir import atomic_write_text
from segnas.train.result import CandidateResult

Record = dict[str, Any]
"""status, stage1_reward, stage2_reward, metrics (stage 2's, e.g. mean_iou), failure, seconds."""
OnRecord = Callable[[str, Genotype, Record], None]
"""Called with (setup, design, record) as each candidate is recorded."""
DONE = "done"


def record_of(result: CandidateResult) -> Record:
    """What the experiment keeps of one candidate; a failed one keeps its failure, not rewards."""
    done = result.status == DONE
    return {
        "status": result.status,
        "stage1_reward": result.stage1_reward if done else None,
        "stage2_reward": result.stage2_reward if done else None,
        "metrics": result.stage2_metrics if done else None,
        "failure": None if done else (result.failure or f"status {result.status}"),
        "seconds": round(sum(result.seconds.values()), 3),
    }


class ScoreTable:
    """Records by (setup, design) in `path`; each `add` rewrites the file whole."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.records: dict[str, Record] = {}
        if self.path.is_file():
            self.records = json.loads(self.path.read_text(encoding="utf-8"))["scores"]

    @staticmethod
    def key(setup: str, design: Genotype | str) -> str:
        return f"{setup}|{design}"

    def get(self, setup: str, design: Genotype | str) -> Record | None:
        return self.records.get(self.key(setup, design))

    def add(self, setup: str, design: Genotype | str, record: Record) -> None:
        self.records[self.key(setup, design)] = record
        payload = {"scores": self.records}
        atomic_write_text(self.path, json.dumps(payload, indent=1, allow_nan=False) + "\n")

    def missing(self, setups: Sequence[str], designs: Sequence[Genotype]) -> int:
        return sum(self.get(s, d) is None for s in setups for d in designs)


@dataclass(frozen=True)
class SetupJob:
    """One candidate of the experiment: a design under a setup. Search executors pass it to the
    evaluator where a search passes a design; its text names the candidate in failures."""

    setup: str
    design: Genotype

    def __str__(self) -> str:
        return f"{self.setup} {self.design}"


def score_setups(
    table: ScoreTable,
    designs: Sequence[Genotype],
    setups: Sequence[str],
    evaluator: Any,
    executor: Any,
    on_record: OnRecord | None = None,
) -> None:
    """Train every (setup, design) not yet recorded, design by design (so the paired rows fill
    up first), as `evaluator(SetupJob, None)`: no early termination, both stages. `executor` is
    a search executor (`run(evaluator, jobs, on_finish)`): one job list for every setup, so
    worker processes start once. Each result is recorded as it finishes."""
    jobs = [SetupJob(s, d) for d in designs for s in setups if table.get(s, d) is None]
    if not jobs:
        return

    def finish(position: int, result: CandidateResult) -> None:
        job = jobs[position]
        if table.get(job.setup, job.design) is None:
            table.add(job.setup, job.design, record_of(result))
            if on_record is not None:
                on_record(job.setup, job.design, table.get(job.setup, job.design))  # type: ignore[arg-type]

    results = executor.run(evaluator, [(job, None) for job in jobs], on_finish=finish)
    for position, result in enumerate(results):  # an executor that did not call back
        finish(position, result)
