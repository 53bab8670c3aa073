"""Re-scoring a run's leading designs with fresh evaluation seeds before naming its best.

A search keeps the design whose one evaluation drew the highest reward, and with a noisy reward
that is partly the luckiest draw. Re-training the top designs with seeds the search never used
gives each a second (third, ...) opinion; their mean is an unbiased estimate of the design's
reward, which is what strategies are compared on and what a run should name as its best.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segnas.genotype import Genotype, parse
from segnas.run_dir import atomic_write_json
from segnas.search.objective import ObjectiveSettings
from segnas.search.store import ranked

RESCORE_FILE = "rescore.json"

Scorer = Callable[[Genotype, int], float]
"""Trains `genotype` with evaluation seed `seed` (both stages) and returns its reward."""


def fresh_seeds(run_seed: int, count: int) -> list[int]:
    """Evaluation seeds no candidate of the run used (it used the run's own), paired by run
    seed: every strategy run with seed s re-scores with the same seeds."""
    return [1_000_000 * (run_seed + 1) + k for k in range(count)]


def load_rescore(run_dir: Path) -> dict[str, Any] | None:
    """The run's `rescore.json`, or None when it was never re-scored."""
    path = Path(run_dir) / RESCORE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def rescore_run(
    run_dir: Path,
    rows: list[dict[str, Any]],
    scorer: Scorer,
    *,
    top: int,
    seeds: list[int],
    say: Callable[[str], None] = lambda _: None,
    objective: ObjectiveSettings | None = None,
) -> dict[str, Any]:
    """Re-score the `top` designs of `rows` with `seeds`; resumable, written after each design.

    Returns `{"eval_seeds", "designs": [{id, genotype, search_reward, rewards, mean,
    latency_ms, score}]}`, best by the search's `objective` first; a design's `mean` is over the
    fresh seeds only, its `score` is the objective's value of that mean (the mean itself for
    the accuracy objective).
    """
    objective = objective or ObjectiveSettings()
    run_dir = Path(run_dir)
    done = load_rescore(run_dir) or {}
    known = {}
    if done.get("eval_seeds") == seeds:
        known = {(d["id"], d["genotype"]): d for d in done.get("designs", [])}
    out: dict[str, Any] = {"eval_seeds": list(seeds), "designs": []}
    for row in ranked(rows, distinct=True, objective=objective)[:top]:
        entry = known.get((row["id"], row["genotype"]))
        if entry is None:
            genotype = parse(row["genotype"])
            rewards = [float(scorer(genotype, seed)) for seed in seeds]
            entry = {
                "id": row["id"],
                "genotype": row["genotype"],
                "search_reward": row["reward"],
                "rewards": rewards,
                "mean": statistics.fmean(rewards),
                "latency_ms": row.get("latency_ms"),
            }
            say(
                f"re-scored #{row['id']}: search {row['reward']:.4f}, fresh seeds "
                + ", ".join(f"{r:.4f}" for r in rewards)
            )
        entry["score"] = objective.value(entry["mean"], entry.get("latency_ms"))
        out["designs"].append(entry)
        atomic_write_json(run_dir / RESCORE_FILE, out, indent=1)
    return out


def rescored_best(rescore: dict[str, Any] | None) -> dict[str, Any] | None:
    """The re-scored design with the highest score (its mean under the run's objective; older
    files: the mean), ties to the earlier candidate."""
    designs = (rescore or {}).get("designs") or []

    def score(d: dict[str, Any]) -> float:
        value = d.get("score", d["mean"])
        return float("-inf") if value is None else value

    return max(designs, key=lambda d: (score(d), -d["id"]), default=None)
