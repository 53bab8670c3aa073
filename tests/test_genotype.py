"""The encoding: round-trips, both orders, validation messages, sampling, counting."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segnas.genotype import (
    ARCH0,
    ARCH1,
    DEFAULT_SPACE,
    FIRST_OP_NODE,
    INPUT_NODE,
    KNOWN_DESIGNS,
    Genotype,
    GenotypeError,
    SearchSpace,
    branch_nodes,
    nodes_before,
    parse,
    resolve,
    sample,
)

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def test_known_designs_match_the_paper() -> None:
    assert str(ARCH0) == "[[[3, 3], [3, 2], [3, 0]], [8, [0, 0, 5, 2], [0, 2, 8, 8], [0, 5, 1, 4]]]"
    assert ARCH1.connectivity == ((2, 3), (3, 1), (4, 4))
    assert ARCH1.branches[0] == (1, 0, 3, 6)
    assert set(KNOWN_DESIGNS) == {"arch0", "arch1", "arch2"}


@given(seeds)
def test_format_parse_round_trip(seed: int) -> None:
    genotype = sample(random.Random(seed))
    assert parse(str(genotype)) == genotype
    assert parse(genotype.to_list()) == genotype
    assert Genotype.from_tokens(genotype.tokens()) == genotype


@given(seeds)
def test_authors_order_parses_to_the_same_genotype(seed: int) -> None:
    genotype = sample(random.Random(seed))
    connectivity, cell = genotype.to_list()
    assert parse([cell, connectivity]) == genotype
    assert parse(json.dumps([cell, connectivity])) == genotype


def test_sampling_is_seeded_and_covers_every_token_value() -> None:
    a = [sample(random.Random(7)) for _ in range(3)]
    b = [sample(random.Random(7)) for _ in range(3)]
    assert a == b
    rng = random.Random(0)
    seen = [set() for _ in DEFAULT_SPACE.token_ranges()]
    for _ in range(3000):
        for position, token in enumerate(sample(rng).tokens()):
            seen[position].add(token)
    assert [len(s) for s in seen] == DEFAULT_SPACE.token_ranges()


def _mutations(encoding: list) -> list[tuple[list, str]]:
    """Every (broken encoding, expected position) the generator can think of for one genotype."""
    out = []
    paths = [(0, k, j) for k in range(3) for j in range(2)] + [(1, 0)]
    paths += [(1, k, j) for k in range(1, 4) for j in range(4)]
    for path in paths:
        for bad in (-1, 99, 1.0, True, "3", None, [1]):
            broken = json.loads(json.dumps(encoding))
            target = broken
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = bad
            out.append((broken, "".join(f"[{p}]" for p in path)))
    for path in [(0,), (1,), (0, 1), (1, 2)]:
        for change in ("drop", "add"):
            broken = json.loads(json.dumps(encoding))
            target = broken
            for step in path:
                target = target[step]
            if change == "drop":
                target.pop()
            else:
                target.append(0)
            out.append((broken, "".join(f"[{p}]" for p in path)))
    out.append(([encoding[0]], "genotype"))
    out.append(("not json", "genotype"))
    out.append((42, "genotype"))
    return out


@given(seeds, st.data())
def test_every_invalid_encoding_is_rejected_naming_its_position(seed: int, data) -> None:
    encoding = sample(random.Random(seed)).to_list()
    broken, position = data.draw(st.sampled_from(_mutations(encoding)))
    with pytest.raises(GenotypeError) as error:
        parse(broken if isinstance(broken, str) else broken)
    assert str(error.value).startswith(position), (broken, str(error.value))


def test_message_names_value_and_range() -> None:
    with pytest.raises(
        GenotypeError,
        match=r"\[0\]\[1\]\[0\] \(block 1 input 0\): got 5, "
        r"expected an integer in \[0, 5\)",
    ):
        parse([[[3, 3], [5, 2], [3, 0]], [8, [0, 0, 5, 2], [0, 2, 8, 8], [0, 5, 1, 4]]])
    with pytest.raises(GenotypeError, match="got True of type bool"):
        parse([[[3, 3], [3, 2], [3, 0]], [True, [0, 0, 5, 2], [0, 2, 8, 8], [0, 5, 1, 4]]])
    with pytest.raises(GenotypeError, match="not a known design"):
        resolve("arch9")


def test_space_sizes() -> None:
    assert DEFAULT_SPACE.size() == (16 * 25 * 36) * 11 * (4 * 25 * 64) * 11**6
    assert DEFAULT_SPACE.size_merged() == (10 * 15 * 21) * 11 * (22 * 23 // 2) * (55 * 56 // 2) * (
        88 * 89 // 2
    )


def test_merged_size_equals_brute_force_count_of_distinct_networks() -> None:
    space = SearchSpace(num_taps=2, num_blocks=2, num_branches=2, num_ops=2)
    ranges = space.token_ranges()
    classes = {
        Genotype.from_tokens(tokens, space).normalized()
        for tokens in itertools.product(*(range(r) for r in ranges))
    }
    assert len(classes) == space.size_merged()
    assert space.size() == len(list(itertools.product(*(range(r) for r in ranges))))


def test_normalized_merges_swapped_branch_with_renumbered_references() -> None:
    a = parse([[[3, 3], [3, 2], [3, 0]], [8, [0, 1, 5, 2], [2, 3, 8, 8], [0, 5, 1, 4]]])
    # Branch 0 swapped: nodes 2 and 3 trade places, so branch 1 must pick 3 and 2.
    b = parse([[[3, 3], [2, 3], [0, 3]], [8, [1, 0, 2, 5], [3, 2, 8, 8], [0, 5, 1, 4]]])
    assert a != b and a.normalized() == b.normalized()


def test_loose_ends_and_head_inputs() -> None:
    assert ARCH0.cell_loose_ends() == [1, 4, 7, 10]
    assert ARCH1.cell_loose_ends() == [4, 7, 10]
    assert ARCH0.head_inputs() == [4, 5, 6]
    assert ARCH1.head_inputs() == [5, 6]


def test_search_space_settings_change_ranges() -> None:
    space = SearchSpace(num_taps=5, num_blocks=2, num_branches=1, num_ops=4)
    assert space.token_ranges() == [5, 5, 6, 6, 4, 2, 2, 4, 4]
    genotype = sample(random.Random(1), space)
    assert parse(str(genotype), space) == genotype
    with pytest.raises(GenotypeError, match="num_blocks"):
        SearchSpace(num_blocks=0)


def test_cell_nodes_are_numbered_input_first_op_then_three_per_branch() -> None:
    assert (INPUT_NODE, FIRST_OP_NODE) == (0, 1)
    assert [branch_nodes(k) for k in range(4)] == [(2, 3, 4), (5, 6, 7), (8, 9, 10), (11, 12, 13)]
    assert [nodes_before(k) for k in range(4)] == [2, 5, 8, 11]
    assert [DEFAULT_SPACE.branch_choices(k) for k in range(3)] == [2, 5, 8]
    # No branch picks a sum, so node 1 and every branch's sum node are loose ends.
    genotype = parse([[[0, 0], [0, 0], [0, 0]], [1, [0, 0, 1, 1], [2, 3, 1, 1], [5, 6, 1, 1]]])
    assert genotype.cell_loose_ends() == [1, 4, 7, 10]
    assert "  node 10 = conv3x3(node 5) + conv3x3(node 6)" in genotype.describe()
    assert genotype.normalized() == genotype  # already sorted: nothing renumbered
