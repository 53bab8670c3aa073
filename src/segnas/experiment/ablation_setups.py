"""The setups of `segnas experiment ablation` (the paper's Fig. 3), each one component more.

`baseline` trains candidates with no Polyak averaging, no auxiliary heads and no distillation;
`polyak` adds the weight average, `polyak+aux` the auxiliary cells, `polyak+aux+distill` the
distillation from the teacher: the full method, i.e. the experiment's own evaluation settings.
Each setup is derived from those with `dataclasses.replace`, so everything else (epochs, batch
sizes, learning rates, decays, the aux mode and weight, the distillation weight) is shared.
"""

from __future__ import annotations

import argparse
import dataclasses

from segnas.search.settings import SearchSettings
from segnas.train.settings import CandidateSettings

SETUPS = ("baseline", "polyak", "polyak+aux", "polyak+aux+distill")
"""In the paper's order: each adds one component to the one before."""
COMPONENTS = {
    "baseline": frozenset(),
    "polyak": frozenset({"polyak"}),
    "polyak+aux": frozenset({"polyak", "aux"}),
    "polyak+aux+distill": frozenset({"polyak", "aux", "distill"}),
}


def parse_setups(text: str) -> list[str]:
    """`--settings baseline,polyak`: known names, each once, kept in the paper's order (the
    report compares consecutive setups)."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in SETUPS]
    if unknown or not names or len(set(names)) != len(names):
        what = ", ".join(unknown) or ("a name twice" if names else "none given")
        raise argparse.ArgumentTypeError(
            f"--settings: {what}; expected a comma-separated list of {', '.join(SETUPS)}"
        )
    return [s for s in SETUPS if s in names]


def setup_settings(base: CandidateSettings, setup: str) -> CandidateSettings:
    """`base` with the components `setup` leaves out switched off (and those it has on)."""
    if setup not in COMPONENTS:
        raise ValueError(f"setup: got {setup!r}, expected one of {', '.join(SETUPS)}")
    on = COMPONENTS[setup]
    settings = dataclasses.replace(base, polyak="polyak" in on, distill="distill" in on)
    if "aux" not in on:
        decoder = dataclasses.replace(base.decoder, aux_mode="none")
        settings = dataclasses.replace(settings, decoder=decoder, aux_weight=0.0)
    return settings


def check_components(settings: SearchSettings, setups: list[str]) -> None:
    """Refuse base settings under which a requested component would do nothing: that setup
    would only repeat the one before it."""
    used = frozenset().union(*(COMPONENTS[s] for s in setups))
    e = settings.evaluation
    problems = []
    if "polyak" in used and e.stage1.polyak_decay == 0 and e.stage2.polyak_decay == 0:
        problems.append(
            "evaluation.stage1.polyak_decay and evaluation.stage2.polyak_decay: got 0 and 0, "
            "expected a decay above 0 in one stage (the polyak setup averages weights)"
        )
    if "polyak" in used and not e.polyak:
        problems.append(
            "evaluation.polyak: got false, expected true (the setups with polyak average "
            "weights; baseline switches it off itself)"
        )
    if "aux" in used:
        if e.decoder.aux_mode == "none":
            problems.append(
                "evaluation.decoder.aux_mode: got 'none', expected 'cell' or 'plain' "
                "(the polyak+aux setup adds these auxiliary heads)"
            )
        if e.aux_weight == 0:
            problems.append(
                "evaluation.aux_weight: got 0, expected > 0 (the auxiliary losses' weight)"
            )
    if "distill" in used:
        if settings.teacher == "none":
            problems.append(
                "teacher: got 'none', expected auto or a model file "
                "(the polyak+aux+distill setup distils from it)"
            )
        if not e.distill:
            problems.append(
                "evaluation.distill: got false, expected true (polyak+aux+distill is the full "
                "method; the other setups switch distillation off themselves)"
            )
        if e.stage1.distill_weight == 0:
            problems.append(
                "evaluation.stage1.distill_weight: got 0, expected > 0 (the distillation weight)"
            )
    if problems:
        raise ValueError(
            "settings for the ablation:\n"
            + "\n".join(f"  {p}" for p in problems)
            + "\nChange them, or leave the setup out with --settings."
        )
