"""`segnas experiment aux`: do auxiliary cells help a design train, compared with plain auxiliary
classifiers and with no auxiliary heads (the paper's Fig. 4)?

The top K designs of a search are trained longer (`--epochs` in stage 2) under each setup, with
no Polyak averaging and no distillation (as in the paper), the same training seed and the
search's data and split, so each design's three figures are a paired comparison. Scores go to
`scores.json` as each candidate finishes; a rerun in the same folder trains only what is
missing and refuses other settings; the report is rewritten from the records at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from segnas.experiment.aux_report import write_aux_report
from segnas.experiment.setup_runs import failures_of, open_scores, train_missing
from segnas.experiment.source_run import final_metric, longer_seed
from segnas.genotype import parse
from segnas.search.settings import SearchSettings
from segnas.settings_io import to_dict
from segnas.train.settings import CandidateSettings

AUX_SETUPS = ("cells", "plain", "none")
"""Auxiliary cells (the paper's), plain auxiliary classifiers, no auxiliary heads."""
AUX_MODES = {"cells": "cell", "plain": "plain", "none": "none"}
"""The decoder's `aux_mode` of each setup."""


def aux_setup_settings(evaluation: CandidateSettings, setup: str) -> CandidateSettings:
    """`evaluation` with the setup's auxiliary heads, Polyak averaging and distillation off."""
    if setup not in AUX_MODES:
        raise ValueError(f"setup: got {setup!r}, expected one of {', '.join(AUX_SETUPS)}")
    decoder = dataclasses.replace(evaluation.decoder, aux_mode=AUX_MODES[setup])
    return dataclasses.replace(
        evaluation,
        decoder=decoder,
        aux_weight=0.0 if setup == "none" else evaluation.aux_weight,
        polyak=False,
        distill=False,
    )


def check_aux_base(base: SearchSettings) -> None:
    """Refuse settings under which the setups with auxiliary heads would train as `none`."""
    if base.evaluation.aux_weight <= 0:
        raise ValueError(
            f"evaluation.aux_weight: got {base.evaluation.aux_weight}, expected > 0 (the cells "
            "and plain setups weight each auxiliary loss by it); e.g. --set "
            "evaluation.aux_weight=0.15"
        )


def _about(base: SearchSettings, source: Path, rows: Sequence[dict[str, Any]], seed: int) -> list:
    e = base.evaluation
    return [
        f"The top {len(rows)} designs of the search `{source}` (its objective; each design once), "
        f"trained longer: stage 1 for {e.stage1.epochs} and stage 2 for {e.stage2.epochs} "
        f"epoch(s), no early termination, no Polyak averaging, no "
        f"distillation; training seed {seed} (one the search never used), the search's data "
        f"`{base.data}`, task {base.task}, split and crop size {e.crop_size}.",
        "",
        "Setups: `cells` = the paper's auxiliary cells (the design's cell, then a classifier) "
        "on the decoder's block outputs; `plain` = a classifier only at the same places; "
        f"`none` = no auxiliary heads. Auxiliary loss weight {e.aux_weight} each.",
    ]


def run_aux_study(
    exp_dir: Path,
    base: SearchSettings,
    rows: Sequence[dict[str, Any]],
    *,
    source: Path,
    command: str,
    device: str = "auto",
    console: Console | None = None,
) -> Path:
    """Train what is missing of `rows` (search-store rows, best first) under every setup with
    `base` (the search's settings, trained longer), then write aux.json, experiment.md and the
    figure; returns experiment.md."""
    console = console or Console()
    if not rows:
        raise ValueError(f"--from {source}: no scored design to train (the search has none yet)")
    check_aux_base(base)
    exp_dir = Path(exp_dir)
    table = open_scores(exp_dir, base)
    designs = [parse(r["genotype"]) for r in rows]
    seed = longer_seed(base.seed)
    settings = {s: aux_setup_settings(base.evaluation, s) for s in AUX_SETUPS}
    key, label = final_metric(base.task)
    train_missing(
        exp_dir,
        base,
        table,
        designs,
        settings,
        seed=seed,
        device=device,
        console=console,
        label="aux study",
        metric=key,
    )
    records = {s: [table.get(s, d) for d in designs] for s in AUX_SETUPS}
    names = [f"#{r['id']} `{r['genotype']}`" for r in rows]
    extra = {
        "source": str(source),
        "seed": seed,
        "metric": key,
        "settings": {s: to_dict(settings[s]) for s in AUX_SETUPS},
    }
    report = write_aux_report(
        exp_dir,
        rows,
        records,
        metric=(key, label),
        command=command,
        about=_about(base, source, rows, seed),
        extra=extra,
        failures=failures_of(records, names),
    )
    console.print(f"report: {report}")
    return report
