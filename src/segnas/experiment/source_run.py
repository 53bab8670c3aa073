"""A search run as the source of an experiment's designs, and the longer training they get.

`segnas experiment aux` and `segnas experiment correlation` take the designs a search scored
(`--from RUN_DIR`, read-only: the search may still be writing) and train them again for longer
with the search's own data, split and settings: only stage 2's epochs (`--epochs`) and what the
experiment varies change. The longer training uses a seed no candidate of the search used, so
its figure is a second opinion on a design, not a replay of the search's draw.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segnas.search.rescore import fresh_seeds
from segnas.search.settings import SearchSettings
from segnas.search.store import NotASearchRun, ranked, read_candidates
from segnas.settings_io import load_yaml
from segnas.train.settings import CandidateSettings

FINAL_METRIC = {
    "segmentation": ("mean_iou", "mIoU"),
    "depth": ("delta1", "δ<1.25"),
    "pose": ("pckh", "PCKh"),
}
"""Per task, the stage-2 metric reported after longer training, and its label."""


RESULT_KEYS = ("params", "madds", "stage1_reward", "stage2_reward", "reward")
"""What two rows of one search share when they trained the same network."""


@dataclass(frozen=True)
class SourceRun:
    """A search's settings (its config.yaml) and every row of its store."""

    path: Path
    settings: SearchSettings
    rows: list[dict[str, Any]]

    def scored(self, *, merge_same_results: bool = False) -> list[dict[str, Any]]:
        """Its scored designs, each once at its best row, best first by the run's objective
        (what `segnas report` ranks); failed, unfinished and reused rows are left out. With
        `merge_same_results`, a row whose parameters, multiply-adds and rewards all equal an
        earlier row's is left out too: under common random numbers that is the same network
        written another way (an unused node's inputs differ), which encodings do not merge."""
        rows = ranked(self.rows, distinct=True, objective=self.settings.objective)
        if not merge_same_results:
            return rows
        seen: set[tuple] = set()
        kept = []
        for row in rows:
            key = tuple(row.get(k) for k in RESULT_KEYS)
            if key not in seen:
                seen.add(key)
                kept.append(row)
        return kept


def load_source(run_dir: Path | str) -> SourceRun:
    """The search run at `run_dir`; a clear error when it is not one."""
    path = Path(run_dir)
    config = path / "config.yaml"
    if not config.is_file():
        raise NotASearchRun(f"--from {path}: no config.yaml, expected a search run directory")
    settings = load_yaml(SearchSettings, config)
    return SourceRun(path, settings, read_candidates(path / "search.sqlite"))


def final_metric(task: str) -> tuple[str, str]:
    """(key in the stage-2 metrics, label) of the figure an experiment reports for `task`."""
    if task not in FINAL_METRIC:
        raise ValueError(f"task: got {task!r}, expected one of {', '.join(FINAL_METRIC)}")
    return FINAL_METRIC[task]


def metric_of(record: dict[str, Any] | None, key: str, *, top: bool = False) -> float | None:
    """The stage-2 metric `key` of an experiment record (with `top`, the record's own field,
    e.g. stage2_reward); None when failed or missing."""
    if record is None or record.get("status") != "done":
        return None
    value = record.get(key) if top else (record.get("metrics") or {}).get(key)
    return None if value is None else float(value)


def trained_longer(evaluation: CandidateSettings, epochs: int) -> CandidateSettings:
    """The search's candidate settings with `epochs` passes in stage 2 (stage 1 unchanged)."""
    if epochs < 1:
        raise ValueError(f"--epochs: got {epochs}, expected >= 1")
    return dataclasses.replace(
        evaluation, stage2=dataclasses.replace(evaluation.stage2, epochs=epochs)
    )


def longer_seed(run_seed: int) -> int:
    """The training seed of the longer runs: one of the run's fresh seeds that re-scoring (which
    takes the first few) does not reach."""
    return fresh_seeds(run_seed, 1000)[-1]
