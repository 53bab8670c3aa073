"""The `segnas` command: the parser of every subcommand, and the one place errors become exit 2.

Each command family lives in its own module (`segnas.cli.design`, `.data`, `.search`, ...) and
shares its options through `segnas.cli.options`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from segnas.devices import tune_cpu
from segnas.genotype import GenotypeError


def build_parser() -> argparse.ArgumentParser:
    from segnas.cli.auto import add_auto_command
    from segnas.cli.bench import add_bench_command
    from segnas.cli.candidate import add_candidate_commands
    from segnas.cli.dashboard import add_dashboard_command
    from segnas.cli.data import add_data_commands
    from segnas.cli.design import add_design_commands
    from segnas.cli.eval import add_eval_command
    from segnas.cli.experiment import add_experiment_commands
    from segnas.cli.export import add_export_command
    from segnas.cli.predict import add_predict_command
    from segnas.cli.report import add_report_command
    from segnas.cli.search import add_search_commands
    from segnas.cli.train import add_final_train_command

    parser = argparse.ArgumentParser(prog="segnas", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        add_design_commands,
        add_data_commands,
        add_candidate_commands,
        add_search_commands,
        add_report_command,
        add_dashboard_command,
        add_final_train_command,
        add_eval_command,
        add_predict_command,
        add_export_command,
        add_bench_command,
        add_experiment_commands,
        add_auto_command,
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    tune_cpu()  # before any torch work, so the intra-op threads inherit it
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (GenotypeError, ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"segnas {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
