"""Command-line options shared by the `segnas` commands, each defined once with one help text.

Settings reach a command one way, each layer type-checked and validated: the defaults (or a
resumed run's stored settings), then `--preset`, then `--config`, then the command's shortcut
options (`--budget 3` sets `budget`), then each `--set KEY=VALUE` in order.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from segnas.data import SegmentationSource, check_dataset, open_dataset, require_clean
from segnas.data.spec import TASKS
from segnas.final.arch_ref import GRAMMAR
from segnas.settings_io import load_layers, parse_overrides, replace_paths, to_yaml

C = TypeVar("C")

DEVICE_HELP = "cpu, cuda, cuda:N or auto (default: CUDA when present, else CPU)"
DATA_HELP = (
    "dataset: builtin[:seed=S,size=N,train=N,val=N] | voc:PATH | voc_aug:VOC_PATH,SBD_PATH | "
    "sbd:PATH | cityscapes:PATH | folder:PATH | list:FILE | nyu:FILE.mat[,SPLITS] (depth)"
)
TASK_HELP = (
    "what the targets are: segmentation (class masks) or depth (metres; datasets builtin, "
    "folder:PATH with images/ + depth/, nyu:FILE.mat[,SPLITS])"
)
CLASSES_HELP = "number of classes, for datasets without classes.txt"
DESIGN_HELP = f"the design: {GRAMMAR}"


def add_device(parser: argparse.ArgumentParser) -> None:
    """`--device`, for the commands that compute on a network (and only those)."""
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_design(parser: argparse.ArgumentParser, *, many: bool = False, extra: str = "") -> None:
    """The positional ARCH (or several), read by `segnas.final.arch_ref.resolve_arch`."""
    parser.add_argument(
        "arch", metavar="ARCH", nargs="+" if many else None, help=extra + DESIGN_HELP
    )


def add_classes(parser: argparse.ArgumentParser, default: int | None = None) -> None:
    what = f" (default: {default})" if default is not None else ""
    parser.add_argument(
        "--classes", type=int, default=default, metavar="N", help=CLASSES_HELP + what
    )


TRAINABLE_TASKS = TASKS
"""Tasks `search`, `train`, `eval`, `predict`, `export` and `bench` take."""


def add_task(
    parser: argparse.ArgumentParser,
    default: str | None = "segmentation",
    default_help: str = "segmentation",
    choices: tuple[str, ...] = ("segmentation", "depth"),
    help_text: str = TASK_HELP,
) -> None:
    """`--task`, the targets a dataset is opened for (`open_dataset`'s ``task``). With
    `default=None` it is a settings shortcut (search) or, for commands reading a model file,
    the model's own task unless given, a different one refused (`model_task`). `choices` are
    the tasks the command can act on (``data`` commands also read pose datasets)."""
    parser.add_argument(
        "--task",
        choices=choices,
        default=default,
        help=f"{help_text} (default: {default_help})",
    )


def add_depth_options(parser: argparse.ArgumentParser) -> None:
    """`--max-depth` and `--invalid-depth`: which depths the depth task ignores."""
    parser.add_argument(
        "--max-depth",
        type=float,
        default=None,
        metavar="M",
        help="depth task: ignore pixels deeper than M metres (NYUDv2: 10)",
    )
    parser.add_argument(
        "--invalid-depth",
        type=float,
        default=None,
        metavar="V",
        help="depth task: a value in metres that marks missing depth besides 0 and NaN",
    )


DEPTH_SHORTCUTS = {"max_depth": "max_depth", "invalid_depth": "invalid_value"}
"""`add_depth_options`' dests and the `DepthSettings` fields they set."""

TASK_SHORTCUTS = {
    "task": "task",
    **{dest: f"depth.{field}" for dest, field in DEPTH_SHORTCUTS.items()},
}
"""`--task` and the depth options as `SearchSettings` shortcuts."""


def depth_options(args: argparse.Namespace) -> dict[str, Any]:
    """The depth task options given on the command line."""
    return {
        field: value
        for dest, field in DEPTH_SHORTCUTS.items()
        if (value := getattr(args, dest, None)) is not None
    }


def model_task(args: argparse.Namespace, meta: Any, path: Any) -> str:
    """The task of a model file (`ModelMeta.task`), refusing a different `--task`."""
    given = getattr(args, "task", None)
    if given is not None and given != meta.task:
        raise ValueError(f"--task {given}: {path} is a {meta.task} model")
    return meta.task


def add_data(parser: argparse.ArgumentParser, *, default: str | None = "builtin") -> None:
    """`--data`, `--classes` and `--skip-bad-samples`: the dataset of a training or scoring run.

    With `default=None` the options are settings shortcuts: not given means "keep the setting".
    """
    parser.add_argument(
        "--data", default=default, help=DATA_HELP + f" (default: {default or 'builtin'})"
    )
    add_classes(parser)
    parser.add_argument(
        "--skip-bad-samples",
        action="store_true",
        default=None if default is None else False,
        help="leave out samples `segnas data check` flags instead of stopping",
    )


def add_encoder(parser: argparse.ArgumentParser, *, weights: bool = True) -> None:
    """`--encoder` (and `--encoder-weights`); None when not given, so settings keep theirs."""
    parser.add_argument("--encoder", default=None, help="encoder (default: mobilenet_v2)")
    if weights:
        parser.add_argument(
            "--encoder-weights",
            default=None,
            help="imagenet, none, or a state-dict file (default: imagenet)",
        )


def add_seed(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--seed", type=int, default=None, help=f"seed of {what}")


def parse_scales(text: str) -> list[float]:
    """`0.5,0.75,1` -> [0.5, 0.75, 1.0], naming the item that is not a number."""
    scales = []
    for i, item in enumerate(text.split(",")):
        try:
            scales.append(float(item))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"item {i} ({item.strip()!r}) is not a number; expected e.g. 0.5,0.75,1,1.25"
            ) from None
    return scales


def add_scales_flip(parser: argparse.ArgumentParser, example: str = "0.75,1,1.25") -> None:
    """`--scales` and `--flip`: multi-scale and mirrored prediction (settings shortcuts)."""
    parser.add_argument(
        "--scales",
        type=parse_scales,
        default=None,
        metavar="S1,S2,...",
        help=f"multi-scale prediction, e.g. {example} (default 1)",
    )
    parser.add_argument(
        "--flip", action="store_true", default=None, help="also average the mirrored prediction"
    )


class PrintSettings(argparse.Action):
    """`--help-config`: the defaults as commented YAML, i.e. every key with its doc."""

    def __init__(self, option_strings: list[str], dest: str, settings_class: type, **kw: Any):
        super().__init__(option_strings, dest, nargs=0, **kw)
        self.settings_class = settings_class

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(to_yaml(self.settings_class()), end="")  # stdout, so it can go to a file
        parser.exit()


def add_settings(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    example: str,
    presets: bool = False,
) -> None:
    """`--config FILE`, repeatable `--set KEY=VALUE` (into `args.overrides`), `--help-config`,
    and with `presets` also `--preset NAME`. `example` is a `--set` item valid for `cls` (a test
    applies every command's example to its settings class)."""
    if presets:
        from segnas.presets import preset_names

        parser.add_argument(
            "--preset",
            choices=preset_names(),
            default=None,
            help="start from shipped settings (before --config): " + ", ".join(preset_names()),
        )
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML settings file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one setting, after --config and the options above, e.g. {example} "
        "(repeatable; --help-config lists the keys)",
    )
    parser.add_argument(
        "--help-config",
        action=PrintSettings,
        settings_class=cls,
        help="print every setting, its default and meaning, then exit",
    )


def resolve_settings(
    cls: type[C],
    args: argparse.Namespace,
    shortcuts: Mapping[str, str] | None = None,
    *,
    base: C | None = None,
) -> C:
    """`base` or the defaults < `--preset` < `--config` < shortcuts < `--set`, validated.

    `shortcuts` maps an option's dest to the settings path it sets; options left at None were
    not given and leave the setting alone.
    """
    settings = load_layers(
        cls, getattr(args, "preset", None), getattr(args, "config", None), base=base
    )
    given = [
        (path, value, None)
        for dest, path in (shortcuts or {}).items()
        if (value := getattr(args, dest, None)) is not None
    ]
    return replace_paths(settings, [*given, *parse_overrides(getattr(args, "overrides", []))])


def open_checked(
    args: argparse.Namespace, console: Console, split: str = "train"
) -> SegmentationSource:
    """Open a split of `--data` and refuse it when `segnas data check` finds errors, unless
    `--skip-bad-samples` leaves them out. The built-in data is generated valid: not checked."""
    task = getattr(args, "task", None) or "segmentation"
    source = open_dataset(args.data, split=split, num_classes=args.classes, task=task)
    if source.name != "builtin":
        report = check_dataset(source)
        source = require_clean(source, report, bool(args.skip_bad_samples))
        if not report.ok:
            console.print(f"skipped {len(report.bad_ids)} bad {split} samples")
    return source


DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([hms]?)")
UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in `2h`, `90m`, `1h30m`, `1.5h`, `45s` or `600` (seconds); > 0.

    Raises `argparse.ArgumentTypeError` (argparse then names the option) on anything else."""
    compact = text.strip().lower().replace(" ", "")
    parts = list(DURATION.finditer(compact))
    whole = "".join(m.group(0) for m in parts)
    units = [m.group(2) for m in parts]
    if (
        not parts
        or whole != compact
        or len(set(units)) != len(units)
        or ("" in units and len(units) > 1)
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a duration such as 2h, 90m, 1h30m, 45s or seconds"
        )
    seconds = sum(float(m.group(1)) * UNIT_SECONDS[m.group(2)] for m in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration above zero")
    return seconds


LATENCY_SHORTCUTS = {
    "objective": "objective.kind",
    "target_latency_ms": "objective.target_ms",
    "latency_weight": "objective.weight",
    "max_latency_ms": "objective.max_latency_ms",
    "latency_target": "latency.target",
    "latency_size": "latency.size",
    "latency_threads": "latency.threads",
    "time_budget": "time_budget",
}
"""The options `add_latency_options` defines and the search settings each one sets."""


def add_latency_options(p: argparse.ArgumentParser) -> None:
    """The objective, the latency cap and target, how latency is measured, and the time budget
    (`segnas search` and `segnas auto`)."""
    g = p.add_argument_group("latency and time")
    g.add_argument(
        "--objective",
        choices=("accuracy", "latency-aware"),
        default=None,
        help="what the search maximises (default accuracy; latency-aware: reward x "
        "(latency / target)^w, MnasNet's soft constraint)",
    )
    g.add_argument(
        "--max-latency-ms",
        type=float,
        default=None,
        help="hard cap: designs whose deployed latency is above it are recorded as "
        "over-budget and not trained",
    )
    g.add_argument(
        "--target-latency-ms",
        type=float,
        default=None,
        help="target of the latency-aware objective (default: the cap)",
    )
    g.add_argument("--latency-weight", type=float, default=None, help="exponent w (default -0.07)")
    g.add_argument(
        "--latency-target",
        choices=("cpu", "cuda", "onnxruntime-cpu"),
        default=None,
        help="where the deployed form is timed (default cpu: segnas's PyTorch runtime)",
    )
    g.add_argument(
        "--latency-size", type=int, default=None, help="square deployment size (default 512)"
    )
    g.add_argument(
        "--latency-threads",
        type=int,
        default=None,
        help="CPU threads of the timed runs (default: every usable core)",
    )
    g.add_argument(
        "--time-budget",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help="wall time for the whole run, e.g. 2h or 45m: no generation starts that would "
        "not finish in it; --resume with a larger one goes on",
    )
