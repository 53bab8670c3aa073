"""The design diagram: well-formed SVG that shows exactly the design's boxes, edges and strides."""

from __future__ import annotations

import itertools
import random
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segnas.genotype import KNOWN_DESIGNS, OP_NAMES, Genotype, SearchSpace, parse, sample
from segnas.report.diagram import draw_genotype, unused_cell_nodes

SVG = "{http://www.w3.org/2000/svg}"
ZERO = OP_NAMES.index("zero")
# Ops 10 (zero) cut paths: node 1 and op 2 are dead (zero outputs), op 6 reads only dead node 1.
CUT_INPUTS = parse([[[0, 1], [2, 3], [4, 5]], [10, [0, 0, 10, 1], [0, 1, 1, 1], [0, 0, 1, 1]]])
# Node 1 is picked, but only through a zero op, so it reaches nothing; op 3 is that zero op.
CUT_OUTPUT = parse([[[0, 1], [2, 3], [4, 5]], [9, [0, 1, 1, 10], [0, 0, 1, 1], [0, 0, 1, 1]]])


def _classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def _panel(root: ET.Element, name: str) -> ET.Element:
    (panel,) = [g for g in root.iter(f"{SVG}g") if name in _classes(g)]
    return panel


def _rects(root: ET.Element, kind: str | None = None) -> list[ET.Element]:
    boxes = [r for r in root.iter(f"{SVG}rect") if "background" not in _classes(r)]
    return [r for r in boxes if kind is None or kind in _classes(r)]


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _edges(panel: ET.Element) -> list[ET.Element]:
    return [p for p in panel.iter(f"{SVG}path") if "edge" in _classes(p)]


def _dashed_node_keys(panel: ET.Element) -> set[str]:
    return {
        g.get("data-key", "")
        for g in panel.iter(f"{SVG}g")
        for r in g.findall(f"{SVG}rect")
        if r.get("stroke-dasharray")
    }


def _box(rect: ET.Element) -> tuple[float, float, float, float]:
    x, y = float(rect.get("x", "nan")), float(rect.get("y", "nan"))
    return x, y, x + float(rect.get("width", "nan")), y + float(rect.get("height", "nan"))


def _assert_layout_sane(root: ET.Element) -> None:
    """No two boxes overlap, and every box lies inside the viewBox."""
    _, _, width, height = (float(v) for v in root.get("viewBox", "").split())
    boxes = [_box(r) for r in _rects(root)]
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    for a, b in itertools.combinations(boxes, 2):
        apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        assert apart, f"boxes overlap: {a} {b}"


def _paths_unused(genotype: Genotype) -> set[int]:
    """Oracle by brute force: nodes on no input-to-output path, zero ops removed."""
    out = 2 + 3 * len(genotype.branches)
    succ: dict[int, list[int]] = {n: [] for n in range(out)}
    if genotype.first_op != ZERO:
        succ[0].append(1)
    for k, (ia, ib, oa, ob) in enumerate(genotype.branches):
        for src, op, node in ((ia, oa, 2 + 3 * k), (ib, ob, 3 + 3 * k)):
            if op != ZERO:
                succ[src].append(node)
            succ[node].append(4 + 3 * k)
    for node in genotype.cell_loose_ends():
        succ[node].append(out)
    on_path: set[int] = set()

    def walk(path: list[int]) -> None:
        if path[-1] == out:
            on_path.update(path)
        for nxt in succ.get(path[-1], []):
            walk([*path, nxt])

    walk([0])
    return set(range(out)) - on_path


@pytest.mark.parametrize("name", sorted(KNOWN_DESIGNS))
def test_known_design_boxes_texts_and_edges(name: str) -> None:
    genotype = KNOWN_DESIGNS[name]
    root = ET.fromstring(draw_genotype(genotype))
    cell, connectivity = _panel(root, "cell"), _panel(root, "connectivity")
    assert len(_rects(cell, "op")) == 1 + 2 * len(genotype.branches)
    assert len(_rects(cell, "sum")) == len(genotype.branches)
    texts = _texts(root)
    used_ops = {genotype.first_op} | {op for b in genotype.branches for op in b[2:]}
    for op in used_ops:
        assert OP_NAMES[op] in texts
    heads = genotype.head_inputs(4)
    assert len(_edges(connectivity)) == 2 * len(genotype.connectivity) + len(heads)
    loose = genotype.cell_loose_ends()
    assert len(_edges(cell)) == 1 + 4 * len(genotype.branches) + len(loose)
    assert "tap 0 · /4 · 24ch" in texts and "tap 3 · /32 · 320ch" in texts
    _assert_layout_sane(root)


@pytest.mark.parametrize(("name", "stride"), [("arch0", 4), ("arch1", 8), ("arch2", 8)])
def test_head_label_shows_output_stride(name: str, stride: int) -> None:
    texts = _texts(ET.fromstring(draw_genotype(KNOWN_DESIGNS[name])))
    heads = [t for t in texts if t.startswith("head")]
    assert heads == [f"head · output stride {stride}"]


def test_output_stride_follows_tap_strides() -> None:
    svg = draw_genotype(KNOWN_DESIGNS["arch0"], tap_strides=(2, 4, 8, 16), tap_channels=None)
    texts = _texts(ET.fromstring(svg))
    assert "head · output stride 2" in texts
    assert "tap 0 · /2" in texts and not any("ch" in t for t in texts if t.startswith("tap"))


def test_upsampling_is_noted_where_strides_differ() -> None:
    texts = _texts(ET.fromstring(draw_genotype(KNOWN_DESIGNS["arch0"])))
    # arch0: block 0 sums tap 3 with itself, block 1 taps 3 and 2, block 2 taps 3 and 0.
    assert "/32" in texts and "/16 · pool 3 ↑×2" in texts and "/4 · pool 3 ↑×8" in texts
    assert "concat pool 4, 5, 6 ↑ to /4" in texts


@pytest.mark.parametrize(
    ("name", "unused_tap"), [("arch0", "p1"), ("arch1", "p0"), ("arch2", "p0")]
)
def test_known_designs_grey_only_the_unpicked_tap(name: str, unused_tap: str) -> None:
    root = ET.fromstring(draw_genotype(KNOWN_DESIGNS[name]))
    assert _dashed_node_keys(_panel(root, "connectivity")) == {unused_tap}
    # Node 1 is always used: arch1 picks it, arch0 and arch2 sum it as a loose end.
    assert _dashed_node_keys(_panel(root, "cell")) == set()
    assert len([r for r in _rects(root) if r.get("stroke-dasharray")]) == 1


@pytest.mark.parametrize(("genotype", "unused"), [(CUT_INPUTS, {1, 2, 6}), (CUT_OUTPUT, {1, 3})])
def test_zero_ops_grey_exactly_the_cut_nodes(genotype: Genotype, unused: set[int]) -> None:
    assert unused_cell_nodes(genotype) == unused == _paths_unused(genotype)
    cell = _panel(ET.fromstring(draw_genotype(genotype)), "cell")
    assert _dashed_node_keys(cell) == {f"n{n}" for n in unused}
    dead = [e for e in _edges(cell) if "dead" in _classes(e)]
    assert dead and all(e.get("stroke-dasharray") for e in dead)


def test_writes_file_and_escapes_text(tmp_path) -> None:
    target = tmp_path / "d.svg"
    svg = draw_genotype(KNOWN_DESIGNS["arch2"], target, title='<arch2> & "friends"')
    assert target.read_text(encoding="utf-8") == svg
    assert '<arch2> & "friends"' in _texts(ET.fromstring(svg))
    assert draw_genotype(KNOWN_DESIGNS["arch2"]) == draw_genotype(KNOWN_DESIGNS["arch2"])


def test_rejects_mismatched_taps() -> None:
    with pytest.raises(ValueError, match="tap_channels"):
        draw_genotype(KNOWN_DESIGNS["arch0"], tap_channels=(24, 32))
    with pytest.raises(ValueError, match="block 0"):
        draw_genotype(KNOWN_DESIGNS["arch0"], tap_strides=(4, 8), tap_channels=None)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    taps=st.integers(1, 5),
    blocks=st.integers(1, 4),
    branches=st.integers(1, 4),
)
def test_random_genotypes_draw_cleanly(seed: int, taps: int, blocks: int, branches: int) -> None:
    space = SearchSpace(num_taps=taps, num_blocks=blocks, num_branches=branches)
    genotype = sample(random.Random(seed), space)
    strides = [2 ** (i + 2) for i in range(taps)]
    root = ET.fromstring(draw_genotype(genotype, tap_strides=strides, tap_channels=None))
    _assert_layout_sane(root)
    cell, connectivity = _panel(root, "cell"), _panel(root, "connectivity")
    assert len(_rects(cell, "op")) == 1 + 2 * branches
    assert len(_edges(connectivity)) == 2 * blocks + len(genotype.head_inputs(taps))
    assert _dashed_node_keys(cell) == {f"n{n}" for n in _paths_unused(genotype)}
    picked = {i for pair in genotype.connectivity for i in pair}
    assert _dashed_node_keys(connectivity) == {f"p{i}" for i in range(taps) if i not in picked}


def test_draw_command_writes_an_svg(tmp_path) -> None:
    from segnas.cli import main

    out = tmp_path / "arch1.svg"
    assert main(["draw", "arch1", "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    assert "output stride 8" in out.read_text()
