"""`segnas experiment ...`: claims about the method, measured over several seeds."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from segnas.cli.options import (
    TASK_SHORTCUTS,
    add_data,
    add_depth_options,
    add_device,
    add_settings,
    add_task,
    resolve_settings,
)
from segnas.search.settings import SearchSettings

if TYPE_CHECKING:
    from segnas.experiment.source_run import SourceRun

STRATEGIES = ("ppo", "evolution", "random")
SHORTCUTS = {
    "data": "data",
    "classes": "classes",
    "skip_bad_samples": "skip_bad_samples",
    "rescore_top": "rescore_top",
    "rescore_seeds": "rescore_seeds",
}
"""`experiment strategies` options that set a `SearchSettings` field of every run."""
SHORTCUTS_NOISE = {k: SHORTCUTS[k] for k in ("data", "classes", "skip_bad_samples")}
"""`experiment reward-noise` options that set a `SearchSettings` field of every preset."""
SHORTCUTS_ABLATION = {
    **SHORTCUTS_NOISE,
    **TASK_SHORTCUTS,
    "seed": "seed",
    "executor": "executor",
    "workers": "workers",
}
"""`experiment ablation` options that set a `SearchSettings` field of its base settings."""


def parse_seeds(text: str) -> list[int]:
    """`5-9` -> [5, 6, 7, 8, 9]; `0,3,4` -> [0, 3, 4]; `2` -> [2]."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        try:
            if sep:
                first, last = int(low), int(high)
                if last < first:
                    raise ValueError
                seeds += range(first, last + 1)
            else:
                seeds.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--seeds: {part!r} is not a seed or a range like 5-9"
            ) from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"--seeds: {text!r} names a seed twice")
    return seeds


def parse_strategies(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"--strategies: {', '.join(unknown) or 'none given'}; expected a comma-separated"
            f" list of {', '.join(STRATEGIES)}"
        )
    return names


def _exp_dir(given: str | None, kind: str) -> Path:
    """The experiment folder: the one given, or a new runs/experiment-KIND-TIME."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(given or Path("runs") / f"experiment-{kind}-{stamp}")


def _command() -> str:
    """The command line as typed, for the top of experiment.md."""
    return "segnas " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def cmd_strategies(args: argparse.Namespace) -> int:
    from rich.console import Console

    from segnas.experiment.strategies import run_strategies_experiment

    if args.budget < 1:
        raise ValueError(f"--budget: got {args.budget}, expected >= 1")
    base = resolve_settings(SearchSettings, args, SHORTCUTS)
    run_strategies_experiment(
        _exp_dir(args.run_dir, "strategies"),
        base,
        strategies=args.strategies,
        seeds=args.seeds,
        budget=args.budget,
        command=_command(),
        device=args.device,
        default=args.default,
        console=Console(),
    )
    return 0


def cmd_reward_noise(args: argparse.Namespace) -> int:
    from segnas.experiment.reward_noise import run_reward_noise

    if args.designs < 2:
        raise ValueError(f"--designs: got {args.designs}, expected >= 2 (one seed: no ICC)")
    settings = {  # each preset's settings resolved (and validated) before any work
        name: resolve_settings(
            SearchSettings,
            argparse.Namespace(**{**vars(args), "preset": None if name == "default" else name}),
            SHORTCUTS_NOISE,
        )
        for name in args.presets
    }
    run_reward_noise(
        _exp_dir(args.run_dir, "noise"),
        settings,
        designs=args.designs,
        seeds=args.seeds,
        command=_command(),
        device=args.device,
    )
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from segnas.experiment.ablation import run_ablation

    base = resolve_settings(SearchSettings, args, SHORTCUTS_ABLATION)
    run_ablation(
        _exp_dir(args.exp_dir, "ablation"),
        base,
        designs=args.designs,
        setups=args.setups,
        command=_command(),
        device=args.device,
    )
    return 0


SHORTCUTS_RETRAIN = {"executor": "executor", "workers": "workers"}
"""`experiment aux` and `experiment correlation` options that set a field of the search's
settings (the rest comes from the search run, `--set` changes it)."""


def retrain_base(args: argparse.Namespace) -> tuple[SourceRun, SearchSettings]:
    """The source search run of `--from` and its settings with this command's options, stage 2
    trained for `--epochs`."""
    from segnas.experiment.source_run import load_source, trained_longer

    source = load_source(args.source)
    base = resolve_settings(SearchSettings, args, SHORTCUTS_RETRAIN, base=source.settings)
    evaluation = trained_longer(base.evaluation, args.epochs)
    return source, dataclasses.replace(base, evaluation=evaluation)


def cmd_aux(args: argparse.Namespace) -> int:
    from segnas.experiment.aux_study import run_aux_study

    if args.top < 1:
        raise ValueError(f"--top: got {args.top}, expected >= 1")
    source, base = retrain_base(args)
    rows = source.scored(merge_same_results=True)[: args.top]  # K different networks
    run_aux_study(
        _exp_dir(args.exp_dir, "aux"),
        base,
        rows,
        source=source.path,
        command=_command(),
        device=args.device,
    )
    return 0


def cmd_correlation(args: argparse.Namespace) -> int:
    from segnas.experiment.correlation import run_correlation

    source, base = retrain_base(args)
    run_correlation(
        _exp_dir(args.exp_dir, "correlation"),
        base,
        source.scored(),
        per_band=args.per_band,
        source=source.path,
        command=_command(),
        device=args.device,
    )
    return 0


def parse_presets(text: str) -> list[str]:
    from segnas.presets import preset_names

    names = [s.strip() for s in text.split(",") if s.strip()]
    known = ["default", *preset_names()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"--presets: {', '.join(unknown) or 'none given'}; expected some of {', '.join(known)}"
        )
    return names


def add_experiment_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment",
        help="claims about the method, measured: strategies, reward noise, ablation, aux, "
        "correlation",
    )
    exp = p.add_subparsers(dest="experiment", required=True)

    s = exp.add_parser(
        "strategies",
        help="one search per (strategy, seed); best-so-far curves, re-scored top designs",
    )
    add_data(s, default=None)
    s.add_argument("--budget", type=int, default=100, help="candidates per run (default 100)")
    s.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-4"), help="e.g. 5-9")
    s.add_argument(
        "--strategies",
        type=parse_strategies,
        default=list(STRATEGIES),
        help="comma-separated, e.g. ppo,evolution,random (random is the reference)",
    )
    s.add_argument(
        "--default",
        default=None,
        choices=STRATEGIES,
        help="strategy whose target (beat random) the report checks",
    )
    s.add_argument("--rescore-top", type=int, default=5, help="designs re-scored per run")
    s.add_argument("--rescore-seeds", type=int, default=2, help="fresh seeds per design")
    s.add_argument("--run-dir", default=None, help="experiment directory (resumable)")
    add_settings(s, SearchSettings, example="evaluation.stage2.epochs=2", presets=True)
    add_device(s)
    s.set_defaults(func=cmd_strategies)

    n = exp.add_parser(
        "reward-noise",
        help="ICC of the reward per preset and Spearman between presets, on random designs",
    )
    add_data(n, default=None)
    n.add_argument(
        "--presets",
        type=parse_presets,
        default=["proxy", "default"],
        help="comma-separated; `default` is no preset (default: proxy,default)",
    )
    n.add_argument("--designs", type=int, default=10, help="random designs (default 10)")
    n.add_argument(
        "--seeds",
        type=parse_seeds,
        default=parse_seeds("0-2"),
        help="evaluation seeds (default 0-2)",
    )
    n.add_argument("--run-dir", default=None, help="experiment directory (resumable)")
    add_settings(n, SearchSettings, example="evaluation.stage2.epochs=2")
    add_device(n)
    n.set_defaults(func=cmd_reward_noise)

    add_ablation_command(exp)
    add_retrain_commands(exp)


def add_ablation_command(exp: argparse._SubParsersAction) -> None:
    from segnas.experiment.ablation_setups import SETUPS, parse_setups

    a = exp.add_parser(
        "ablation",
        help="the same random designs without and with Polyak averaging, auxiliary cells and "
        "distillation: paired reward comparisons (paper, Fig. 3)",
    )
    add_data(a, default=None)
    add_task(a, default=None)
    add_depth_options(a)
    a.add_argument(
        "--designs", type=int, default=20, metavar="N", help="random designs (default 20)"
    )
    a.add_argument(
        "--seed", type=int, default=None, help="seed of the designs, split, views and training"
    )
    a.add_argument(
        "--settings",
        dest="setups",
        type=parse_setups,
        default=list(SETUPS),
        metavar="S1,S2,...",
        help="comma-separated setups, each one component more (default: " + ",".join(SETUPS) + ")",
    )
    a.add_argument(
        "--executor", choices=("local", "ray"), default=None, help="where candidates run"
    )
    a.add_argument("--workers", type=int, default=None, help="candidates at once on this machine")
    a.add_argument(
        "--exp-dir",
        "--run-dir",
        dest="exp_dir",
        default=None,
        help="experiment directory (resumable)",
    )
    add_settings(a, SearchSettings, example="evaluation.stage2.epochs=2", presets=True)
    add_device(a)
    a.set_defaults(func=cmd_ablation)


def _add_retrain_options(p: argparse.ArgumentParser, example: str) -> None:
    """What `experiment aux` and `experiment correlation` share: the source run, the longer
    training, where candidates run and the experiment folder."""
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="RUN_DIR",
        help="search run whose designs are trained again (read only; may still be running)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=5,
        metavar="E",
        help="stage-2 epochs of the longer training (default 5; the search's stage 1 is kept)",
    )
    p.add_argument(
        "--executor", choices=("local", "ray"), default=None, help="where candidates run"
    )
    p.add_argument("--workers", type=int, default=None, help="candidates at once on this machine")
    p.add_argument(
        "--exp-dir",
        "--run-dir",
        dest="exp_dir",
        default=None,
        help="experiment directory (resumable)",
    )
    add_settings(p, SearchSettings, example=example)
    add_device(p)


def add_retrain_commands(exp: argparse._SubParsersAction) -> None:
    a = exp.add_parser(
        "aux",
        help="a search's top designs trained longer with auxiliary cells, plain auxiliary "
        "classifiers and none (paper, Fig. 4)",
    )
    a.add_argument("--top", type=int, default=5, metavar="K", help="designs (default 5)")
    _add_retrain_options(a, example="evaluation.aux_weight=0.3")
    a.set_defaults(func=cmd_aux)

    c = exp.add_parser(
        "correlation",
        help="designs from a search's low, medium and high reward bands trained longer: "
        "Spearman between search rewards and the longer-trained figure (paper, Fig. 5)",
    )
    c.add_argument(
        "--per-band", type=int, default=8, metavar="M", help="designs per band (default 8)"
    )
    _add_retrain_options(c, example="evaluation.stage1.epochs=10")
    c.set_defaults(func=cmd_correlation)
