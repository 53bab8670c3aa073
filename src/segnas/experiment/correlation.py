"""`segnas experiment correlation`: do a search's cheap rewards rank designs the way longer
training does (the paper's Fig. 5)?

Designs are drawn from the low, medium and high reward bands of a search (`--per-band` each)
and trained longer (`--epochs` in stage 2) with the search's own candidate settings, data and
split, a training seed the search never used, and no early termination. The report gives
Spearman's rho, with bootstrap intervals, between the search's stage-1, stage-2 and final
rewards and the longer-trained figure (mIoU; delta1 for depth). Resumable like the other
experiments: scores.json is written as each design finishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from segnas.experiment.correlation_bands import sample_bands
from segnas.experiment.correlation_report import write_correlation_report
from segnas.experiment.setup_runs import failures_of, open_scores, train_missing
from segnas.experiment.source_run import final_metric, longer_seed
from segnas.genotype import parse
from segnas.search.settings import SearchSettings
from segnas.settings_io import to_dict

SETUP = "longer"
"""The one setup: the search's candidate settings, trained longer."""


def _about(
    base: SearchSettings, source: Path, scored: int, edges: tuple[float, float], seed: int
) -> list[str]:
    e = base.evaluation
    return [
        f"Designs drawn from the {scored} scored designs of the search `{source}` (each design "
        f"once, at its best row), in three bands of its reward: low <= {edges[0]:.4f} < medium "
        f"<= {edges[1]:.4f} < high (its terciles). Each was trained again for longer with the "
        f"search's candidate settings: stage 1 for {e.stage1.epochs} and stage 2 for "
        f"{e.stage2.epochs} epoch(s), no early termination, training seed {seed} (one the "
        "search never used), "
        f"the search's data `{base.data}`, task {base.task} and split.",
        "",
        "The search reward is stage 2's for a design trained to the end, stage 1's for one the "
        "search stopped early (which therefore has no stage-2 reward).",
    ]


def run_correlation(
    exp_dir: Path,
    base: SearchSettings,
    scored: Sequence[dict[str, Any]],
    *,
    per_band: int,
    source: Path,
    command: str,
    device: str = "auto",
    console: Console | None = None,
) -> Path:
    """Draw `per_band` designs per reward band of `scored` (the search's scored rows, each
    design once), train what is missing with `base` (the search's settings trained longer),
    then write correlation.json, experiment.md and the figure; returns experiment.md."""
    console = console or Console()
    if len(scored) < 3:
        raise ValueError(
            f"--from {source}: {len(scored)} scored designs, expected >= 3 (three reward bands)"
        )
    rows, edges = sample_bands(scored, per_band, base.seed)
    exp_dir = Path(exp_dir)
    table = open_scores(exp_dir, base)
    designs = [parse(r["genotype"]) for r in rows]
    seed = longer_seed(base.seed)
    key, label = final_metric(base.task)
    train_missing(
        exp_dir,
        base,
        table,
        designs,
        {SETUP: base.evaluation},
        seed=seed,
        device=device,
        console=console,
        label="correlation",
        metric=key,
    )
    records = [table.get(SETUP, d) for d in designs]
    names = [f"#{r['id']} ({r['band']}) `{r['genotype']}`" for r in rows]
    extra = {
        "source": str(source),
        "seed": seed,
        "per_band": per_band,
        "band_edges": list(edges),
        "settings": to_dict(base.evaluation),
    }
    report = write_correlation_report(
        exp_dir,
        rows,
        records,
        metric=(key, label),
        command=command,
        about=_about(base, source, len(scored), edges, seed),
        extra=extra,
        failures=failures_of({SETUP: records}, names),
    )
    console.print(f"report: {report}")
    return report
