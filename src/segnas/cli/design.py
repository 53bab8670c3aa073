"""`segnas describe`, `segnas draw` and `segnas space`: a design's cost and diagram, the space."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from segnas.cli.options import add_classes, add_design, add_device
from segnas.devices import resolve_device
from segnas.final.arch_ref import resolve_arch
from segnas.genotype import DEFAULT_SPACE, KNOWN_DESIGNS, SearchSpace
from segnas.space.cost import Cost, measure_cost


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """How a design becomes a network for its figures: classes, decoder width and repeats."""
    add_classes(parser, default=21)
    parser.add_argument("--channels", type=int, default=64, help="decoder width C (default: 64)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="separable-conv repeats R (default: 2)"
    )
    parser.add_argument("--encoder", default="mobilenet_v2", help="encoder (default: mobilenet_v2)")


def cost_table(cost: Cost, title: str) -> Table:
    table = Table(title=title)
    table.add_column("part")
    table.add_column("params (M)", justify="right")
    table.add_column("multiply-adds (B)", justify="right")
    for part, params in cost.params_by_part.items():
        table.add_row(part, f"{params / 1e6:.3f}", f"{cost.madds_by_part[part] / 1e9:.3f}")
    table.add_row("[bold]total", f"{cost.params / 1e6:.3f}", f"{cost.madds / 1e9:.3f}")
    return table


def cmd_describe(args: argparse.Namespace) -> int:
    from segnas.space.builder import DecoderSettings, build_network

    genotype = resolve_arch(args.arch).searched()
    config = DecoderSettings(channels=args.channels, repeats=args.repeats, aux_mode="none")
    net = build_network(genotype, args.classes, config, encoder=args.encoder, weights=None)
    cost = measure_cost(net.to(resolve_device(args.device)), (args.size, args.size))
    if args.json:
        print(json.dumps({"genotype": genotype.to_list(), **cost.to_dict()}))
        return 0
    console = Console()
    console.print(f"[bold]genotype[/bold] {genotype}")
    console.print(genotype.describe())
    title = (
        f"cost at {args.size}x{args.size}, {args.classes} classes, "
        f"C={args.channels}, R={args.repeats} (auxiliary heads excluded)"
    )
    console.print(cost_table(cost, title))
    h, w = cost.output_size
    console.print(f"output stride {cost.output_stride}, output size {h}x{w}")
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from segnas.encoders import ENCODER_TAPS
    from segnas.report.diagram import draw_genotype

    genotype = resolve_arch(args.arch).searched()
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


def add_design_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("describe", help="canonical encoding, parameters and multiply-adds")
    add_design(p)
    add_network_options(p)
    p.add_argument("--size", type=int, default=512, help="square input size (default: 512)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    add_device(p)
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("draw", help="SVG diagram of a design")
    add_design(p)
    p.add_argument("-o", "--output", required=True, help="SVG file to write")
    p.add_argument(
        "--encoder",
        default="mobilenet_v2",
        help="encoder whose taps are drawn (default: mobilenet_v2)",
    )
    p.add_argument("--title", default=None, help="title above the diagram")
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("space", help="size of the search space")
    p.add_argument("--taps", type=int, default=DEFAULT_SPACE.num_taps, help="encoder taps")
    p.add_argument("--blocks", type=int, default=DEFAULT_SPACE.num_blocks, help="decoder blocks")
    p.add_argument("--branches", type=int, default=DEFAULT_SPACE.num_branches, help="cell branches")
    p.add_argument("--ops", type=int, default=DEFAULT_SPACE.num_ops, help="operations")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_space)
