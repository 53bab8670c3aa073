"""`segnas experiment ablation`: what Polyak averaging, auxiliary cells and distillation each add
to the rewards of the same random designs (the paper's Fig. 3).

Every design is trained once under every setup with the experiment's one seed (common random
numbers: the same split, views, batch order and initialisation stream), and always through both
stages (no early termination), so each step between setups is a paired comparison. Scores go to
`scores.json` as each candidate finishes; a rerun in the same folder trains only what is missing
and refuses other base settings; the report is rewritten from the records at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from segnas.experiment.ablation_report import write_report
from segnas.experiment.ablation_setups import check_components, setup_settings
from segnas.experiment.reward_noise import random_designs
from segnas.experiment.setup_runs import failures_of, open_scores, train_missing
from segnas.search.settings import SearchSettings
from segnas.settings_io import to_dict


def _about(base: SearchSettings, designs: int, setups: Sequence[str]) -> list[str]:
    """What was run, in words, for the top of experiment.md."""
    e = base.evaluation
    return [
        f"{designs} random designs (seed {base.seed}), each trained under every setup with the "
        "same run seed (common random numbers: a design sees the same split, views, batch "
        "order and initialisation seed under every setup), always through both stages (no "
        "early termination). "
        f"Data: `{base.data}`, task {base.task}, up to {base.train_count or 'all'} meta-train / "
        f"{base.val_count or 'all'} meta-val images; epochs: {e.stage1.epochs} in stage 1, "
        f"{e.stage2.epochs} in stage 2.",
        "",
        f"Setups: {', '.join(setups)}. Polyak: validation with averaged weights (decay "
        f"{e.stage1.polyak_decay} / {e.stage2.polyak_decay}); aux: auxiliary heads "
        f"`{e.decoder.aux_mode}`, weight {e.aux_weight} each; distill: MSE to the teacher's "
        f"logits (`{base.teacher}`), weight {e.stage1.distill_weight}, in stage 1 only (as in "
        "the paper).",
    ]


def run_ablation(
    exp_dir: Path,
    base: SearchSettings,
    *,
    designs: int,
    setups: Sequence[str],
    command: str,
    device: str = "auto",
    console: Console | None = None,
) -> Path:
    """Train what is missing, then write ablation.json, experiment.md and the figures; returns
    experiment.md. `base` are the full method's settings (`config.yaml`)."""
    console = console or Console()
    if designs < 2:
        raise ValueError(f"--designs: got {designs}, expected >= 2 (a paired test needs pairs)")
    check_components(base, list(setups))
    exp_dir = Path(exp_dir)
    table = open_scores(exp_dir, base)
    chosen = random_designs(designs, base.seed)
    train_missing(
        exp_dir,
        base,
        table,
        chosen,
        {s: setup_settings(base.evaluation, s) for s in setups},
        seed=base.seed,
        device=device,
        console=console,
        label="ablation",
    )
    records = {s: [table.get(s, d) for d in chosen] for s in setups}
    failures = failures_of(records, [f"design {i + 1} `{d}`" for i, d in enumerate(chosen)])
    extra = {
        "seed": base.seed,
        "setups": list(setups),
        "designs": [str(d) for d in chosen],
        "settings": {s: to_dict(setup_settings(base.evaluation, s)) for s in setups},
    }
    report = write_report(
        exp_dir,
        records,
        command=command,
        about=_about(base, designs, setups),
        extra=extra,
        failures=failures,
    )
    console.print(f"report: {report}")
    return report
