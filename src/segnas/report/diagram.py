"""SVG diagrams of a decoder design, in the spirit of the paper's Fig. 6.

The SVG is written by hand as text so that `segnas draw` works on any machine, with no graphviz or
other binary. Layout is layered and deterministic: a node's column is its depth, and every node has
a row of its own (its pool or node index). Edges run right along their source's row, then drop
down in the gap just left of their target's column, so no edge ever crosses a box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from segnas.genotype import OP_NAMES, Genotype, branch_nodes, nodes_before

FONT, SMALL, LINE_H, PAD = 12, 9, 15, 8
CHAR_W = 0.6 * FONT  # advance of a monospace glyph, so widths can be computed without fonts
SMALL_W = 0.6 * SMALL
ROW_GAP, GAP, DROP, PORT = 14, 28, 10, 12
MARGIN, CAPTION_H = 20, 26
ZERO_OP = OP_NAMES.index("zero")


@dataclass
class _Node:
    """A box: where it sits in the layered grid, what it says and whether it is greyed."""

    key: str
    column: int
    row: int
    lines: tuple[str, ...]
    kind: str
    used: bool = True
    index: str = ""
    collector: bool = False
    """A tall box at the far right fed straight along its sources' rows (head, cell output)."""
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0


@dataclass
class _Edge:
    src: str
    dst: str
    used: bool


def unused_taps(genotype: Genotype, num_taps: int) -> set[int]:
    """Taps no block picks: they are computed by the encoder but never reach the decoder."""
    picked = {index for pair in genotype.connectivity for index in pair}
    return {tap for tap in range(num_taps) if tap not in picked}


def unused_cell_nodes(genotype: Genotype) -> set[int]:
    """Cell nodes on no path from the input to the output that avoids a `zero` op.

    Structurally every node feeds the output (node 1 and unpicked sums are loose ends), so only
    `zero` ops cut paths: their outputs are constant, and what feeds only them is wasted.
    """
    feeds: list[tuple[int, int]] = [] if genotype.first_op == ZERO_OP else [(0, 1)]
    for k, (ia, ib, oa, ob) in enumerate(genotype.branches):
        node_a, node_b, total = branch_nodes(k)
        for src, op, node in ((ia, oa, node_a), (ib, ob, node_b)):
            feeds += [] if op == ZERO_OP else [(src, node)]
            feeds.append((node, total))
    out = nodes_before(len(genotype.branches))  # the output: one past the last node
    feeds += [(node, out) for node in genotype.cell_loose_ends()]
    alive_from_input, reaches_output = {0}, {out}
    for src, dst in sorted(feeds, key=lambda edge: edge[1]):
        if src in alive_from_input:
            alive_from_input.add(dst)
    for src, dst in sorted(feeds, key=lambda edge: -edge[0]):
        if dst in reaches_output:
            reaches_output.add(src)
    return set(range(out)) - (alive_from_input & reaches_output)


def output_stride(genotype: Genotype, tap_strides: Sequence[int]) -> int:
    """Finest stride among the maps the head concatenates (it upsamples to that one)."""
    strides = _pool_strides(genotype, tap_strides)
    return min(strides[index] for index in genotype.head_inputs(len(tap_strides)))


def _pool_strides(genotype: Genotype, tap_strides: Sequence[int]) -> list[int]:
    strides = list(tap_strides)
    for a, b in genotype.connectivity:
        strides.append(min(strides[a], strides[b]))
    return strides


def _fmt_ratio(coarse: int, fine: int) -> str:
    return str(coarse // fine) if coarse % fine == 0 else f"{coarse / fine:.3g}"


def _connectivity_graph(
    genotype: Genotype, tap_strides: Sequence[int], tap_channels: Sequence[int] | None
) -> tuple[list[_Node], list[_Edge]]:
    """Taps, blocks (`cell + cell -> sum`) and the head, with the strides each map has."""
    taps = len(tap_strides)
    strides = _pool_strides(genotype, tap_strides)
    unused = unused_taps(genotype, taps)
    nodes: list[_Node] = []
    edges: list[_Edge] = []
    depth = [0] * taps
    for i, stride in enumerate(tap_strides):
        label = f"tap {i} · /{stride}" + (f" · {tap_channels[i]}ch" if tap_channels else "")
        nodes.append(_Node(f"p{i}", 0, i, (label,), "tap", used=i not in unused))
    for k, (a, b) in enumerate(genotype.connectivity):
        depth.append(1 + max(depth[a], depth[b]))
        fine, coarse = sorted((a, b), key=lambda p: (strides[p], p))
        scale = f"/{strides[fine]}"
        if strides[coarse] != strides[fine]:
            scale += f" · pool {coarse} ↑×{_fmt_ratio(strides[coarse], strides[fine])}"
        lines = (f"block {k} → pool {taps + k}", "cell + cell → sum", scale)
        nodes.append(_Node(f"p{taps + k}", depth[-1], taps + k, lines, "block"))
        edges += [_Edge(f"p{a}", f"p{taps + k}", True), _Edge(f"p{b}", f"p{taps + k}", True)]
    heads = genotype.head_inputs(taps)
    finest = min(strides[i] for i in heads)
    concat = "concat pool " + ", ".join(str(i) for i in heads)
    concat += f" ↑ to /{finest}" if any(strides[i] != finest for i in heads) else ""
    lines = (f"head · output stride {finest}", concat, "→ 1x1 conv → 3x3 classifier")
    nodes.append(_Node("head", max(depth) + 1, 0, lines, "head", collector=True))
    edges += [_Edge(f"p{i}", "head", True) for i in heads]
    return nodes, edges


def _cell_graph(genotype: Genotype) -> tuple[list[_Node], list[_Edge]]:
    """Input, first op, each branch's two ops and sum, and the output summing the loose ends."""
    unused = unused_cell_nodes(genotype)
    depth = [0, 1]
    nodes = [
        _Node("n0", 0, 0, ("input",), "input", used=0 not in unused, index="0"),
        _Node("n1", 1, 1, (OP_NAMES[genotype.first_op],), "op", 1 not in unused, "1"),
    ]
    edges = [_Edge("n0", "n1", not {0, 1} & unused)]
    for k, (ia, ib, oa, ob) in enumerate(genotype.branches):
        node_a, node_b, total = branch_nodes(k)
        for src, op, node in ((ia, oa, node_a), (ib, ob, node_b)):
            depth.append(depth[src] + 1)
            used = node not in unused
            nodes.append(_Node(f"n{node}", depth[-1], node, (OP_NAMES[op],), "op", used, str(node)))
            edges.append(_Edge(f"n{src}", f"n{node}", used and src not in unused))
            edges.append(_Edge(f"n{node}", f"n{total}", used and total not in unused))
        depth.append(max(depth[-2:]) + 1)
        used = total not in unused
        nodes.append(_Node(f"n{total}", depth[-1], total, ("+",), "sum", used, str(total)))
    loose = genotype.cell_loose_ends()
    nodes.append(_Node("out", max(depth) + 1, 0, ("out = Σ",), "output", collector=True))
    edges += [_Edge(f"n{node}", "out", node not in unused) for node in loose]
    return nodes, edges


def _size(node: _Node) -> None:
    index_w = SMALL_W * len(node.index) + (4 if node.index else 0)
    node.w = 2 * PAD + index_w + CHAR_W * max(len(line) for line in node.lines)
    node.h = 2 * PAD + LINE_H * len(node.lines)


def _layout(
    nodes: list[_Node], edges: list[_Edge], x0: float, y0: float
) -> dict[int, tuple[float, float]]:
    """Place boxes column by column, one row per node; return each edge's drop x and port y."""
    by_key = {node.key: node for node in nodes}
    for node in nodes:
        _size(node)
    heights = {node.row: node.h + ROW_GAP for node in nodes if not node.collector}
    row_top = [y0]
    for row in range(max(heights) + 1):
        row_top.append(row_top[-1] + heights[row])
    for node in nodes:
        node.y = row_top[node.row] + ROW_GAP / 2
    ports: dict[int, list[tuple[float, int]]] = {}
    for i, edge in enumerate(edges):
        dst = by_key[edge.dst]
        if dst.collector:
            continue
        siblings = [j for j, e in enumerate(edges) if e.dst == edge.dst]
        order = sorted(siblings, key=lambda j: (by_key[edges[j].src].row, j)).index(i)
        port_y = dst.y + dst.h / 2 + (order - (len(siblings) - 1) / 2) * PORT
        ports.setdefault(dst.column, []).append((port_y, i))
    routes: dict[int, tuple[float, float]] = {}
    x = x0
    for column in range(max(node.column for node in nodes) + 1):
        members = [node for node in nodes if node.column == column]
        drops = sorted(ports.get(column, []))
        x += (GAP + DROP * len(drops)) if column else 0
        for order, (port_y, i) in enumerate(drops):
            routes[i] = (x - 12 - DROP * order, port_y)
        for node in members:
            node.x = x
        x += max((node.w for node in members), default=0.0)
    for node in nodes:
        if node.collector:
            rows = [by_key[e.src].row for e in edges if e.dst == node.key]
            top, bottom = row_top[min(rows)], row_top[max(rows) + 1]
            node.h = max(node.h, bottom - top - ROW_GAP)
            node.y = (top + bottom - node.h) / 2
    return routes


def _rect_svg(node: _Node) -> str:
    cls = f"box {node.kind}" + ("" if node.used else " unused")
    fill = {"tap": "#e8f0fb", "block": "#fdf3e1", "head": "#e6f4e6", "sum": "#ffffff"}
    style = (
        'fill="#f4f4f4" stroke="#aaaaaa" stroke-dasharray="4 3"'
        if not node.used
        else f'fill="{fill.get(node.kind, "#f7f7f7")}" stroke="#333333"'
    )
    rx = 9 if node.kind == "sum" else 4
    out = [
        f'<g class="node {node.kind}" data-key="{node.key}">',
        f'<rect class="{cls}" x="{node.x:.1f}" y="{node.y:.1f}" width="{node.w:.1f}" '
        f'height="{node.h:.1f}" rx="{rx:.1f}" {style}/>',
    ]
    color = "#999999" if not node.used else "#111111"
    if node.index:
        out.append(
            f'<text class="index" x="{node.x + 4:.1f}" y="{node.y + SMALL + 2:.1f}" '
            f'font-size="{SMALL}" fill="#777777">{escape(node.index)}</text>'
        )
    index_w = SMALL_W * len(node.index) + (4 if node.index else 0)
    cx = node.x + index_w + (node.w - index_w) / 2
    top = node.y + (node.h - LINE_H * len(node.lines)) / 2
    for i, line in enumerate(node.lines):
        out.append(
            f'<text class="label" x="{cx:.1f}" y="{top + (i + 1) * LINE_H - 4:.1f}" '
            f'text-anchor="middle" fill="{color}">{escape(line)}</text>'
        )
    return "\n".join(out) + "\n</g>"


def _edge_svg(edge: _Edge, by_key: dict[str, _Node], route: tuple[float, float] | None) -> str:
    src, dst = by_key[edge.src], by_key[edge.dst]
    x0, y0 = src.x + src.w, src.y + src.h / 2
    d = f"M{x0:.1f},{y0:.1f} H{dst.x:.1f}"
    if route is not None:
        d = f"M{x0:.1f},{y0:.1f} H{route[0]:.1f} V{route[1]:.1f} H{dst.x:.1f}"
    style = (
        'stroke="#333333" marker-end="url(#arrow)"'
        if edge.used
        else 'stroke="#bbbbbb" stroke-dasharray="4 3" marker-end="url(#arrow-dead)"'
    )
    cls = "edge" if edge.used else "edge dead"
    keys = f'data-src="{edge.src}" data-dst="{edge.dst}"'
    return f'<path class="{cls}" {keys} d="{d}" fill="none" {style}/>'


def _panel_svg(
    name: str, caption: str, graph: tuple[list[_Node], list[_Edge]], y0: float
) -> tuple[str, float, float]:
    """One panel at height y0: its SVG group, its right edge and its bottom edge."""
    nodes, edges = graph
    routes = _layout(nodes, edges, MARGIN, y0 + CAPTION_H)
    by_key = {node.key: node for node in nodes}
    order = sorted(range(len(edges)), key=lambda i: edges[i].used)  # live edges drawn on top
    parts = [f'<g class="{name}">']
    parts.append(
        f'<text class="caption" x="{MARGIN}" y="{y0 + FONT + 2:.1f}" font-weight="bold">'
        f"{escape(caption)}</text>"
    )
    parts += [_edge_svg(edges[i], by_key, routes.get(i)) for i in order]
    parts += [_rect_svg(node) for node in nodes]
    parts.append("</g>")
    right = max(node.x + node.w for node in nodes)
    bottom = max(node.y + node.h for node in nodes)
    return "\n".join(parts), right, bottom


_DEFS = """<defs>
<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"
 orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333333"/></marker>
<marker id="arrow-dead" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"
 orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#bbbbbb"/></marker>
</defs>"""


def render_connectivity_svg(
    genotype: Genotype,
    y0: float = 0.0,
    tap_strides: Sequence[int] = (4, 8, 16, 32),
    tap_channels: Sequence[int] | None = (24, 32, 96, 320),
) -> tuple[str, float, float]:
    """The encoder-decoder panel as an SVG group, with its right and bottom edges."""
    graph = _connectivity_graph(genotype, tap_strides, tap_channels)
    return _panel_svg("connectivity", "Decoder connectivity", graph, y0)


def render_cell_svg(genotype: Genotype, y0: float = 0.0) -> tuple[str, float, float]:
    """The cell panel as an SVG group, with its right and bottom edges."""
    caption = "Cell (shared by every block; dashed grey: unused)"
    return _panel_svg("cell", caption, _cell_graph(genotype), y0)


def _check(
    genotype: Genotype, tap_strides: Sequence[int], tap_channels: Sequence[int] | None
) -> None:
    """Fail with a message rather than draw a pool that does not match the genotype."""
    taps = len(tap_strides)
    if taps < 1 or any(s < 1 for s in tap_strides):
        raise ValueError(f"tap_strides: got {list(tap_strides)}, expected positive integers")
    if tap_channels is not None and len(tap_channels) != taps:
        raise ValueError(f"tap_channels: got {len(tap_channels)} entries, expected {taps}")
    for k, pair in enumerate(genotype.connectivity):
        if any(not 0 <= index < taps + k for index in pair):
            raise ValueError(
                f"block {k} picks {list(pair)}; with {taps} taps, 0..{taps + k - 1} exist"
            )


def draw_genotype(
    genotype: Genotype,
    path: str | Path | None = None,
    *,
    tap_strides: Sequence[int] = (4, 8, 16, 32),
    tap_channels: Sequence[int] | None = (24, 32, 96, 320),
    title: str | None = None,
) -> str:
    """The SVG text of the design's diagram (connectivity above, cell below); writes it to path."""
    _check(genotype, tap_strides, tap_channels)
    head = [title] if title else []
    head.append(str(genotype))
    y = MARGIN + LINE_H * len(head) + 8
    top, right1, bottom1 = render_connectivity_svg(genotype, y, tap_strides, tap_channels)
    cell, right2, bottom2 = render_cell_svg(genotype, bottom1 + 2 * MARGIN)
    width = max(right1, right2, MARGIN + CHAR_W * max(len(line) for line in head)) + MARGIN
    height = bottom2 + MARGIN
    baselines = [MARGIN + (i + 1) * LINE_H - 4 for i in range(len(head))]
    texts = [
        f'<text class="title" x="{MARGIN}" y="{base}">{escape(line)}</text>'
        for line, base in zip(head, baselines)
    ]
    svg = "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, Menlo, '
            f'Consolas, monospace" font-size="{FONT}">',
            _DEFS,
            '<rect class="background" x="0" y="0" width="100%" height="100%" fill="#ffffff"/>',
            *texts,
            top,
            cell,
            "</svg>",
            "",
        ]
    )
    if path is not None:
        Path(path).write_text(svg, encoding="utf-8")
    return svg
