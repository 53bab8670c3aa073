"""`segnas report`: the report of a search run, as files and a summary, or as JSON; ranked by
the run's own objective or, with `--objective` / `--max-latency-ms`, re-ranked under another
(the store keeps the accuracy reward and the latency apart, so nothing is trained again)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

import yaml
from rich.console import Console
from rich.markup import escape

from segnas.report.run_report import render_summary, report_json, write_report
from segnas.search.objective import ObjectiveSettings, objective_from
from segnas.search.store import NotASearchRun
from segnas.settings_io import FieldError, SettingsError

RERANK = {
    "objective": "kind",
    "target_latency_ms": "target_ms",
    "latency_weight": "weight",
    "max_latency_ms": "max_latency_ms",
}
"""Options of `segnas report` and the objective field each one sets."""


def objective_for(args: argparse.Namespace) -> ObjectiveSettings | None:
    """The run's objective with the given options on top, or None when none was given."""
    given = {field: getattr(args, dest) for dest, field in RERANK.items()}
    given = {field: value for field, value in given.items() if value is not None}
    if not given:
        return None
    config = args.run_dir + "/config.yaml"
    try:
        with open(config, encoding="utf-8") as handle:
            own = objective_from(yaml.safe_load(handle))
    except (OSError, yaml.YAMLError):
        own = ObjectiveSettings()
    return replace(own, **given)


def cmd_report(args: argparse.Namespace) -> int:
    try:
        objective = objective_for(args)
        if args.json:
            print(json.dumps(report_json(args.run_dir, objective)))
            return 0
        path = write_report(args.run_dir, objective)
    except (NotASearchRun, SettingsError, FieldError) as error:
        print(f"segnas report: error: {error}", file=sys.stderr)
        return 2
    console = Console()
    render_summary(args.run_dir, console, objective=objective)
    console.print(f"report: {escape(str(path))}")
    return 0


def add_report_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="report of a search run: table, figures, diagrams")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory of a finished or running search")
    p.add_argument("--json", action="store_true", help="the summary as one JSON object, no files")
    g = p.add_argument_group("re-rank under another objective (default: the run's own)")
    g.add_argument("--objective", choices=("accuracy", "latency-aware"), default=None)
    g.add_argument("--target-latency-ms", type=float, default=None)
    g.add_argument("--latency-weight", type=float, default=None)
    g.add_argument(
        "--max-latency-ms",
        type=float,
        default=None,
        help="leave out designs whose measured latency is above it",
    )
    p.set_defaults(func=cmd_report)
