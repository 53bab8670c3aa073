"""The list-file parser: every well-formed line comes back, every bad line is reported."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from segnas.data.listfile import format_list, parse_list

# Paths: words without whitespace or control characters, joined by single spaces.
word = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=8,
)
field = (
    st.lists(word, min_size=1, max_size=3)
    .map(" ".join)
    .filter(lambda s: s.strip() == s and not s.startswith("#"))
)
pairs = st.lists(st.tuples(field, field), max_size=20)


@given(pairs)
def test_format_then_parse_round_trips(items: list[tuple[str, str]]):
    parsed, problems = parse_list(format_list(items), "x.txt")
    assert problems == []
    assert [(p.image, p.mask) for p in parsed] == items
    assert [p.line for p in parsed] == list(range(1, len(items) + 1))


@given(pairs, st.lists(st.sampled_from(["", "   ", "# note", "#\tcomment"]), max_size=5))
def test_blank_and_comment_lines_are_skipped_with_crlf(items, noise):
    lines = [f"{a}\t{b}" for a, b in items] + noise
    parsed, problems = parse_list("\r\n".join(lines), "x.txt")
    assert problems == [] and [(p.image, p.mask) for p in parsed] == items


@given(pairs, st.sampled_from(["only-one-field", "a\tb\tc", "\tmask.png", "img.png\t"]))
def test_a_bad_line_is_reported_with_its_number_and_the_rest_kept(items, bad):
    text = format_list(items) + bad + "\n" + "last.png\tlast_mask.png\n"
    parsed, problems = parse_list(text, "x.txt")
    assert [(p.kind, p.path) for p in problems] == [("bad_line", f"x.txt:{len(items) + 1}")]
    assert "expected image<TAB>mask" in problems[0].message
    assert [(p.image, p.mask) for p in parsed] == [*items, ("last.png", "last_mask.png")]
