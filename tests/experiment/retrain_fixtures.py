"""A fake source search run for `segnas experiment aux` and `segnas experiment correlation`.

The run is what a finished search leaves: its resolved settings (tiny: built-in data of a few
images, one epoch per stage, no teacher) and a store of finished candidates with rewards chosen
here, so the tests know which designs rank where without running a search.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from segnas.experiment.reward_noise import random_designs
from segnas.search.settings import SearchSettings
from segnas.search.store import SearchStore
from segnas.settings_io import dump_yaml
from segnas.train.result import CandidateResult
from segnas.train.settings import CandidateSettings, Stage1Settings, Stage2Settings

DATA = "builtin:seed=0,size=64,train=24,val=8"


def tiny_settings(**changes) -> SearchSettings:
    """A search's settings shrunk to seconds per candidate: 16 training and 8 validation images,
    one epoch per stage, batches of 8, no teacher, one worker of one thread."""
    settings = SearchSettings(
        data=DATA,
        train_count=16,
        val_count=8,
        val_fraction=0.25,
        teacher="none",
        workers=1,
        threads_per_worker=1,
        evaluation=CandidateSettings(
            stage1=Stage1Settings(epochs=1, batch_size=8),
            stage2=Stage2Settings(epochs=1, batch_size=8),
        ),
    )
    return dataclasses.replace(settings, **changes)


# (status, reward) by candidate id; stage 1 is reward - 0.1 for a finished design, and the
# reward itself for one stopped after stage 1. Best first: 2 (0.62), 6 (0.58), 0 (0.50), ...
SPECS = [
    ("done", 0.50),
    ("done", 0.31),
    ("done", 0.62),
    ("stopped", 0.20),
    ("failed", 0.0),
    ("done", 0.44),
    ("done", 0.58),
    ("done", 0.12),
    ("done", 0.37),
]


def _metrics(miou: float) -> dict:
    return {"mean_iou": miou, "pixel_accuracy": min(1.0, miou + 0.3)}


def result_of(genotype: str, status: str, reward: float) -> CandidateResult:
    if status == "failed":
        return CandidateResult(genotype, "failed", failure="RuntimeError: out of memory")
    stopped = status == "stopped"
    stage1 = reward if stopped else round(reward - 0.1, 6)
    return CandidateResult(
        genotype,
        status,  # type: ignore[arg-type]
        reward=reward,
        stage1_reward=stage1,
        stage2_reward=None if stopped else reward,
        stage1_metrics=_metrics(stage1),
        stage2_metrics=None if stopped else _metrics(reward),
        params=1_000_000,
        madds=300_000_000,
        seconds={"stage1": 1.0, "stage2": 0.0 if stopped else 2.0},
    )


def make_source_run(
    run_dir: Path, specs=SPECS, settings: SearchSettings | None = None
) -> list[str]:
    """Write config.yaml and search.sqlite of a finished search to `run_dir`; returns each
    candidate's genotype text, by id."""
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_yaml(settings or tiny_settings(), run_dir / "config.yaml")
    genotypes = [str(g) for g in random_designs(len(specs), seed=5)]
    store = SearchStore(run_dir / "search.sqlite")
    try:
        for k, (status, reward) in enumerate(specs):
            store.start(k, genotypes[k])
            store.finish(k, result_of(genotypes[k], status, reward))
    finally:
        store.close()
    return genotypes
