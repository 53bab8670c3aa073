"""The architecture encoding: parse, format, validate, sample and count decoder designs.

A genotype is the paper's list of integers: per decoder block the two inputs it sums, then the
cell (the op on its input and, per branch, two node indices and two ops)::

    [[[c1, c2], [c3, c4], [c5, c6]], [o1, [i2, i3, o2, o3], [i4, i5, o4, o5], [i6, i7, o6, o7]]]

The cell's nodes are numbered in the order they are computed: node 0 is the cell input, node 1
the first op applied to it, and branch k adds three nodes, its two op outputs and their sum
(`branch_nodes(k)`). A branch may read any node numbered before its own.

This module is plain Python on purpose: the controller, the search store and the command-line
tools use it without importing torch.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

OP_NAMES: tuple[str, ...] = (
    "conv1x1",
    "conv3x3",
    "sep3x3",
    "sep5x5",
    "gap",
    "conv3x3_r3",
    "conv3x3_r12",
    "sep3x3_r3",
    "sep5x5_r6",
    "skip",
    "zero",
)
"""The ordered operation list; an op in a genotype is an index into it (the paper's order)."""

INPUT_NODE = 0
"""The cell node holding the cell's input."""
FIRST_OP_NODE = 1
"""The cell node holding the first op applied to the cell input."""
NODES_PER_BRANCH = 3
"""Nodes each branch adds: its two op outputs and their sum."""


def branch_nodes(branch: int) -> tuple[int, int, int]:
    """Cell nodes branch `branch` adds: (op a's output, op b's output, their sum).

    Nodes 0 and 1 come first, so branch k's nodes are 2 + 3k, 3 + 3k and 4 + 3k.
    """
    first = FIRST_OP_NODE + 1 + NODES_PER_BRANCH * branch
    return first, first + 1, first + 2


def nodes_before(branch: int) -> int:
    """How many cell nodes exist before branch `branch`: the node indices it may pick."""
    return branch_nodes(branch)[0]


class GenotypeError(ValueError):
    """An encoding that is not a valid genotype; the message names the position and the rule."""


@dataclass(frozen=True)
class SearchSpace:
    """The sizes that fix every token's range. Defaults are the paper's."""

    num_taps: int = 4
    """Encoder feature maps the decoder may read (strides 4, 8, 16, 32 for MobileNet-v2)."""
    num_blocks: int = 3
    """Decoder blocks; block k picks two of the taps and earlier block outputs."""
    num_branches: int = 3
    """Branches per cell; branch k picks two of the cell's earlier nodes."""
    num_ops: int = len(OP_NAMES)
    """Size of the operation list (the first `num_ops` entries of `OP_NAMES`)."""

    def __post_init__(self) -> None:
        for name in ("num_taps", "num_blocks", "num_branches", "num_ops"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GenotypeError(f"SearchSpace.{name}: got {value!r}, expected an integer >= 1")
        if self.num_ops > len(OP_NAMES):
            raise GenotypeError(
                f"SearchSpace.num_ops: got {self.num_ops}, at most {len(OP_NAMES)} ops are defined"
            )

    def block_choices(self, block: int) -> int:
        """Pool indices block `block` may pick: the taps and every earlier block output."""
        return self.num_taps + block

    def branch_choices(self, branch: int) -> int:
        """Cell nodes branch `branch` may pick: input, first op and three nodes per branch."""
        return nodes_before(branch)

    def token_ranges(self) -> list[int]:
        """Each token's range in `Genotype.tokens()` order; the controller sizes its outputs so."""
        ranges: list[int] = []
        for k in range(self.num_blocks):
            ranges += [self.block_choices(k)] * 2
        ranges.append(self.num_ops)
        for k in range(self.num_branches):
            ranges += [self.branch_choices(k)] * 2 + [self.num_ops] * 2
        return ranges

    def size(self) -> int:
        """Number of distinct encodings."""
        return math.prod(self.token_ranges())

    def size_merged(self) -> int:
        """Number of distinct networks once symmetric duplicates are merged.

        Swapping the two inputs of a block, or the two (index, op) pairs of a branch (renumbering
        later references to the two op outputs), gives the same network. Each class has exactly
        one member in which every pair is sorted (see `Genotype.normalized`), hence the formula.
        """
        connectivity = math.prod(
            math.comb(self.block_choices(k) + 1, 2) for k in range(self.num_blocks)
        )
        cell = self.num_ops * math.prod(
            math.comb(self.branch_choices(k) * self.num_ops + 1, 2)
            for k in range(self.num_branches)
        )
        return connectivity * cell


DEFAULT_SPACE = SearchSpace()


@dataclass(frozen=True)
class Genotype:
    """One decoder design: how blocks connect and the one cell every block uses."""

    connectivity: tuple[tuple[int, int], ...]
    """Per block, the two pool indices it sums (taps first, then earlier block outputs)."""
    first_op: int
    """Op applied to the cell input to make node 1."""
    branches: tuple[tuple[int, int, int, int], ...]
    """Per branch (index_a, index_b, op_a, op_b): op_a(node index_a) + op_b(node index_b)."""

    def to_list(self) -> list[Any]:
        """The canonical nested-list form."""
        return [
            [list(pair) for pair in self.connectivity],
            [self.first_op, *[list(branch) for branch in self.branches]],
        ]

    def __str__(self) -> str:
        return json.dumps(self.to_list())

    def tokens(self) -> list[int]:
        """Flat token list in the controller's order (matches `SearchSpace.token_ranges`)."""
        out = [index for pair in self.connectivity for index in pair]
        out.append(self.first_op)
        for branch in self.branches:
            out += list(branch)
        return out

    @classmethod
    def from_tokens(cls, tokens: Sequence[int], space: SearchSpace = DEFAULT_SPACE) -> Genotype:
        """Inverse of `tokens`; validates every token against `space`."""
        expected = len(space.token_ranges())
        if len(tokens) != expected:
            raise GenotypeError(f"tokens: got {len(tokens)} tokens, expected {expected}")
        nb = space.num_blocks
        connectivity = [list(tokens[2 * k : 2 * k + 2]) for k in range(nb)]
        rest = list(tokens[2 * nb :])
        cell = [rest[0], *[rest[1 + 4 * k : 5 + 4 * k] for k in range(space.num_branches)]]
        return parse([connectivity, cell], space)

    def cell_loose_ends(self) -> list[int]:
        """Cell nodes summed into the cell output: node 1 and branch sums no later branch picked."""
        picked = {index for branch in self.branches for index in branch[:2]}
        sums = [branch_nodes(k)[2] for k in range(len(self.branches))]
        candidates = [FIRST_OP_NODE, *sums]
        return [node for node in candidates if node not in picked]

    def head_inputs(self, num_taps: int = DEFAULT_SPACE.num_taps) -> list[int]:
        """Pool indices of block outputs no later block picked; the head concatenates them."""
        picked = {index for pair in self.connectivity for index in pair}
        outputs = [num_taps + k for k in range(len(self.connectivity))]
        return [index for index in outputs if index not in picked]

    def normalized(self) -> Genotype:
        """The representative of this design's symmetry class: every pair sorted.

        Two genotypes describe the same network exactly when their normalized forms are equal.
        """
        connectivity = tuple(tuple(sorted(pair)) for pair in self.connectivity)
        remap: dict[int, int] = {}
        branches = []
        for k, (ia, ib, oa, ob) in enumerate(self.branches):
            a, b = (remap.get(ia, ia), oa), (remap.get(ib, ib), ob)
            if b < a:
                a, b = b, a
                node_a, node_b, _ = branch_nodes(k)
                remap[node_a], remap[node_b] = node_b, node_a
            branches.append((a[0], b[0], a[1], b[1]))
        return Genotype(connectivity, self.first_op, tuple(branches))  # type: ignore[arg-type]

    def describe(self, num_taps: int = DEFAULT_SPACE.num_taps) -> str:
        """A readable multi-line form with op names (pool indices below `num_taps` are taps)."""
        lines = ["connectivity:"]
        for k, (a, b) in enumerate(self.connectivity):
            lines.append(f"  block {k} -> pool {num_taps + k} = cell(pool {a}) + cell(pool {b})")
        lines.append(f"  head <- pool {self.head_inputs(num_taps)}")
        lines.append("cell:")
        first_op = OP_NAMES[self.first_op]
        lines.append(f"  node {FIRST_OP_NODE} = {first_op}(node {INPUT_NODE})")
        for k, (ia, ib, oa, ob) in enumerate(self.branches):
            total = branch_nodes(k)[2]
            lines.append(f"  node {total} = {OP_NAMES[oa]}(node {ia}) + {OP_NAMES[ob]}(node {ib})")
        lines.append(f"  output = sum of nodes {self.cell_loose_ends()}")
        return "\n".join(lines)


def _check_index(value: Any, path: str, what: str, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GenotypeError(
            f"{path} ({what}): got {value!r} of type {type(value).__name__}, "
            f"expected an integer in [0, {upper})"
        )
    if not 0 <= value < upper:
        raise GenotypeError(f"{path} ({what}): got {value}, expected an integer in [0, {upper})")
    return value


def _check_list(value: Any, path: str, what: str, length: int) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise GenotypeError(
            f"{path} ({what}): got {value!r} of type {type(value).__name__}, "
            f"expected a list of {length}"
        )
    if len(value) != length:
        raise GenotypeError(f"{path} ({what}): got {len(value)} entries, expected {length}")
    return list(value)


def _looks_like_cell(part: Any) -> bool:
    return isinstance(part, (list, tuple)) and len(part) > 0 and isinstance(part[0], int)


def parse(encoding: str | Sequence[Any] | Genotype, space: SearchSpace = DEFAULT_SPACE) -> Genotype:
    """Parse and validate a genotype from JSON text or nested lists.

    Accepts the canonical order `[connectivity, cell]` and the authors' `[cell, connectivity]`;
    the cell is the half whose first entry is an integer. Raises `GenotypeError` naming the
    position (in canonical order), the value and the allowed range.
    """
    if isinstance(encoding, Genotype):
        encoding = encoding.to_list()
    if isinstance(encoding, str):
        try:
            encoding = json.loads(encoding)
        except json.JSONDecodeError as error:
            raise GenotypeError(f"genotype: not valid JSON ({error})") from None
    top = _check_list(encoding, "genotype", "[connectivity, cell]", 2)
    if _looks_like_cell(top[0]) and not _looks_like_cell(top[1]):
        top = [top[1], top[0]]
    connectivity_raw = _check_list(top[0], "[0]", "connectivity", space.num_blocks)
    connectivity = []
    for k, pair in enumerate(connectivity_raw):
        pair = _check_list(pair, f"[0][{k}]", f"block {k}", 2)
        connectivity.append(
            tuple(
                _check_index(v, f"[0][{k}][{j}]", f"block {k} input {j}", space.block_choices(k))
                for j, v in enumerate(pair)
            )
        )
    cell = _check_list(top[1], "[1]", "cell", 1 + space.num_branches)
    first_op = _check_index(cell[0], "[1][0]", "first op", space.num_ops)
    branches = []
    for k in range(space.num_branches):
        branch = _check_list(cell[1 + k], f"[1][{k + 1}]", f"branch {k}", 4)
        where = f"[1][{k + 1}]"
        nodes = space.branch_choices(k)
        branches.append(
            (
                _check_index(branch[0], f"{where}[0]", f"branch {k} index a", nodes),
                _check_index(branch[1], f"{where}[1]", f"branch {k} index b", nodes),
                _check_index(branch[2], f"{where}[2]", f"branch {k} op a", space.num_ops),
                _check_index(branch[3], f"{where}[3]", f"branch {k} op b", space.num_ops),
            )
        )
    return Genotype(tuple(connectivity), first_op, tuple(branches))  # type: ignore[arg-type]


def format_genotype(genotype: Genotype) -> str:
    """The canonical JSON text; `parse(format_genotype(g)) == g`."""
    return str(genotype)


def sample(rng: random.Random, space: SearchSpace = DEFAULT_SPACE) -> Genotype:
    """A genotype drawn uniformly from all encodings of `space`."""
    return Genotype.from_tokens([rng.randrange(r) for r in space.token_ranges()], space)


ARCH0 = parse([[[3, 3], [3, 2], [3, 0]], [8, [0, 0, 5, 2], [0, 2, 8, 8], [0, 5, 1, 4]]])
ARCH1 = parse([[[2, 3], [3, 1], [4, 4]], [2, [1, 0, 3, 6], [0, 1, 2, 8], [2, 0, 6, 1]]])
ARCH2 = parse([[[1, 3], [4, 3], [2, 2]], [5, [0, 0, 4, 1], [3, 2, 0, 1], [5, 6, 5, 0]]])
KNOWN_DESIGNS: dict[str, Genotype] = {"arch0": ARCH0, "arch1": ARCH1, "arch2": ARCH2}
"""The designs the paper found on PASCAL VOC (Fig. 10-12)."""


def resolve(name_or_encoding: str, space: SearchSpace = DEFAULT_SPACE) -> Genotype:
    """A known design by name (`arch0`) or an encoding in JSON."""
    if name_or_encoding in KNOWN_DESIGNS:
        return KNOWN_DESIGNS[name_or_encoding]
    if not name_or_encoding.lstrip().startswith("["):
        known = ", ".join(KNOWN_DESIGNS)
        raise GenotypeError(
            f"architecture {name_or_encoding!r}: not a known design ({known}) nor a JSON encoding"
        )
    return parse(name_or_encoding, space)
