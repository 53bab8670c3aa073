"""The `segnas` command: thin subcommands that parse arguments and call the package."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from segnas.devices import resolve_device, tune_cpu
from segnas.genotype import DEFAULT_SPACE, KNOWN_DESIGNS, GenotypeError, SearchSpace, resolve


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when present)"
    )


def _network_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arch", help="known design (arch0, arch1, arch2) or a JSON encoding")
    parser.add_argument("--classes", type=int, default=21, help="number of classes")
    parser.add_argument("--channels", type=int, default=64, help="decoder width C")
    parser.add_argument("--repeats", type=int, default=2, help="separable-conv repeats R")
    parser.add_argument("--encoder", default="mobilenet_v2", help="encoder name")


def cmd_describe(args: argparse.Namespace) -> int:
    from segnas.space.builder import DecoderSettings, build_network
    from segnas.space.cost import measure_cost

    genotype = resolve(args.arch)
    config = DecoderSettings(channels=args.channels, repeats=args.repeats, aux_mode="none")
    net = build_network(genotype, args.classes, config, encoder=args.encoder, weights=None)
    cost = measure_cost(net.to(resolve_device(args.device)), (args.size, args.size))
    if args.json:
        print(json.dumps({"genotype": genotype.to_list(), **cost.to_dict()}))
        return 0
    console = Console()
    console.print(f"[bold]genotype[/bold] {genotype}")
    console.print(genotype.describe())
    table = Table(
        title=f"cost at {args.size}x{args.size}, {args.classes} classes, "
        f"C={args.channels}, R={args.repeats} (auxiliary heads excluded)"
    )
    table.add_column("part")
    table.add_column("params (M)", justify="right")
    table.add_column("multiply-adds (B)", justify="right")
    for part, params in cost.params_by_part.items():
        table.add_row(part, f"{params / 1e6:.3f}", f"{cost.madds_by_part[part] / 1e9:.3f}")
    table.add_row("[bold]total", f"{cost.params / 1e6:.3f}", f"{cost.madds / 1e9:.3f}")
    console.print(table)
    h, w = cost.output_size
    console.print(f"output stride {cost.output_stride}, output size {h}x{w}")
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from segnas.encoders import ENCODER_TAPS
    from segnas.report.diagram import draw_genotype

    genotype = resolve(args.arch)
    taps = ENCODER_TAPS[args.encoder]
    title = args.title or (args.arch if args.arch in KNOWN_DESIGNS else None)
    draw_genotype(
        genotype, args.output, tap_strides=taps.strides, tap_channels=taps.channels, title=title
    )
    print(f"wrote {args.output}")
    return 0


def cmd_space(args: argparse.Namespace) -> int:
    space = SearchSpace(args.taps, args.blocks, args.branches, args.ops)
    raw, merged = space.size(), space.size_merged()
    if args.json:
        print(json.dumps({"space": vars(space), "size": raw, "size_merged": merged}))
        return 0
    print(
        f"taps={space.num_taps} blocks={space.num_blocks} branches={space.num_branches} "
        f"ops={space.num_ops}"
    )
    print(f"encodings:                 {raw:,} (~{raw:.2e})")
    print(f"networks (symmetry merged): {merged:,} (~{merged:.2e})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segnas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("describe", help="canonical encoding, parameters and multiply-adds")
    _network_args(p)
    _common(p)
    p.add_argument("--size", type=int, default=512, help="square input size")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("draw", help="SVG diagram of a design")
    p.add_argument("arch", help="known design or JSON encoding")
    p.add_argument("-o", "--output", required=True, help="SVG file to write")
    p.add_argument("--encoder", default="mobilenet_v2")
    p.add_argument("--title", default=None)
    _common(p)
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("space", help="size of the search space")
    p.add_argument("--taps", type=int, default=DEFAULT_SPACE.num_taps)
    p.add_argument("--blocks", type=int, default=DEFAULT_SPACE.num_blocks)
    p.add_argument("--branches", type=int, default=DEFAULT_SPACE.num_branches)
    p.add_argument("--ops", type=int, default=DEFAULT_SPACE.num_ops)
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(func=cmd_space)

    from segnas.cli.bench import add_bench_command
    from segnas.cli.candidate import add_train_commands
    from segnas.cli.data import add_data_commands
    from segnas.cli.eval import add_eval_command
    from segnas.cli.experiment import add_experiment_commands
    from segnas.cli.export import add_export_command
    from segnas.cli.predict import add_predict_command
    from segnas.cli.report import add_report_command
    from segnas.cli.search import add_search_commands
    from segnas.cli.train import add_final_train_command

    add_data_commands(sub)
    add_train_commands(sub)
    add_search_commands(sub)
    add_report_command(sub)
    add_bench_command(sub)
    add_eval_command(sub)
    add_export_command(sub)
    add_predict_command(sub)
    add_final_train_command(sub)
    add_experiment_commands(sub)

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
