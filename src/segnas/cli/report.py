"""`segnas report`: the report of a search run, as files and a summary, or as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.markup import escape

from segnas.report.run_report import render_summary, report_json, write_report
from segnas.search.store import NotASearchRun


def cmd_report(args: argparse.Namespace) -> int:
    try:
        if args.json:
            print(json.dumps(report_json(args.run_dir)))
            return 0
        path = write_report(args.run_dir)
    except NotASearchRun as error:
        print(f"segnas report: error: {error}", file=sys.stderr)
        return 2
    console = Console()
    render_summary(args.run_dir, console)
    console.print(f"report: {escape(str(path))}")
    return 0


def add_report_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="report of a search run: table, figures, diagrams")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory of a finished or running search")
    p.add_argument("--json", action="store_true", help="the summary as one JSON object, no files")
    p.set_defaults(func=cmd_report)
