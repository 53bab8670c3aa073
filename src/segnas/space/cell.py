"""The cell: one op on the input, then branches that each sum two ops of earlier nodes.

Nodes are numbered as in `segnas.genotype`: 0 the input, 1 the first op, then per branch its two
op outputs and their sum (`branch_nodes`). Ops are keyed by the node they produce.
"""

from __future__ import annotations

import torch
from torch import nn

from segnas.genotype import FIRST_OP_NODE, INPUT_NODE, Genotype, branch_nodes
from segnas.space.ops import ZERO, make_op


def live_nodes(genotype: Genotype) -> set[int]:
    """Cell nodes whose value reaches the cell output through some op other than `zero`.

    Ops whose output cannot reach the output are not built: they would cost parameters, time and
    batch-norm updates for nothing.
    """
    loose = set(genotype.cell_loose_ends())
    live = set(loose)
    # Walk branches from last to first: a sum node is live if it is loose or feeds a live node.
    for k in reversed(range(len(genotype.branches))):
        ia, ib, oa, ob = genotype.branches[k]
        node_a, node_b, total = branch_nodes(k)
        for node, index, op in ((node_a, ia, oa), (node_b, ib, ob)):
            if (total in live or node in live) and op != ZERO:
                live.add(node)
                live.add(index)
    if FIRST_OP_NODE in live and genotype.first_op != ZERO:
        live.add(INPUT_NODE)
    return live


def _add(values: list[torch.Tensor | None]) -> torch.Tensor | None:
    """Sum that treats None as an exact zero (a cut path)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    total = present[0]
    for value in present[1:]:
        total = total + value
    return total


class Cell(nn.Module):
    """One instance of the searched cell; every block and auxiliary head owns its own weights."""

    def __init__(self, genotype: Genotype, channels: int, repeats: int = 1) -> None:
        super().__init__()
        self.genotype = genotype
        live = live_nodes(genotype)
        ops: dict[str, nn.Module] = {}
        if FIRST_OP_NODE in live and genotype.first_op != ZERO:
            ops[str(FIRST_OP_NODE)] = make_op(genotype.first_op, channels, repeats)
        for k, (_, _, oa, ob) in enumerate(genotype.branches):
            node_a, node_b, _ = branch_nodes(k)
            for node, op in ((node_a, oa), (node_b, ob)):
                if node in live and op != ZERO:
                    ops[str(node)] = make_op(op, channels, repeats)
        self.ops = nn.ModuleDict(ops)
        self.loose_ends = genotype.cell_loose_ends()

    def _run_op(
        self, node: int, value: torch.Tensor | None, like: torch.Tensor
    ) -> torch.Tensor | None:
        key = str(node)
        if key not in self.ops:
            return None
        return self.ops[key](like.new_zeros(like.shape) if value is None else value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        # Appended in node order, so nodes[i] is node i (see `branch_nodes`).
        nodes: list[torch.Tensor | None] = [x, self._run_op(FIRST_OP_NODE, x, x)]
        for k, (ia, ib, _, _) in enumerate(self.genotype.branches):
            node_a, node_b, _ = branch_nodes(k)
            a = self._run_op(node_a, nodes[ia], x)
            b = self._run_op(node_b, nodes[ib], x)
            nodes += [a, b, _add([a, b])]
        out = _add([nodes[i] for i in self.loose_ends])
        return x.new_zeros(x.shape) if out is None else out
