"""`segnas experiment ...`: claims about the method, measured over several seeds."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime
from pathlib import Path

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


def cmd_strategies(args: argparse.Namespace) -> int:
    from rich.console import Console

    from segnas.experiment.strategies import run_strategies_experiment

    if args.budget < 1:
        raise ValueError(f"--budget: got {args.budget}, expected >= 1")
    base = resolve_settings(SearchSettings, args, SHORTCUTS)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    exp_dir = Path(args.run_dir or Path("runs") / f"experiment-strategies-{stamp}")
    command = "segnas " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_strategies_experiment(
        exp_dir,
        base,
        strategies=args.strategies,
        seeds=args.seeds,
        budget=args.budget,
        command=command,
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
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_reward_noise(
        Path(args.run_dir or Path("runs") / f"experiment-noise-{stamp}"),
        settings,
        designs=args.designs,
        seeds=args.seeds,
        command="segnas " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        device=args.device,
    )
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from segnas.experiment.ablation import run_ablation

    base = resolve_settings(SearchSettings, args, SHORTCUTS_ABLATION)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_ablation(
        Path(args.exp_dir or Path("runs") / f"experiment-ablation-{stamp}"),
        base,
        designs=args.designs,
        setups=args.setups,
        command="segnas " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
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
        "experiment", help="experiments over seeds: strategies, reward noise, ablation"
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
