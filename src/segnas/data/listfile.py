"""A list file: one ``image<TAB>mask`` pair per line, paths relative to the list file's folder.

The file is one split on its own (the split argument only labels it). Blank lines and lines
starting with ``#`` are skipped; ``classes.txt`` sits beside the list file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segnas.data.classes import resolve_classes
from segnas.data.paired import Entry, PairedFileSource, drop_duplicates, drop_missing
from segnas.data.source import DatasetError, Problem, ProblemKind


@dataclass(frozen=True)
class ListLine:
    """One parsed pair, paths as written."""

    line: int
    """1-based line number, for error messages."""
    image: str
    mask: str


def parse_list(text: str, origin: str) -> tuple[list[ListLine], list[Problem]]:
    """Pairs from list-file text, and a `bad_line` problem (``origin:LINE``) for each bad line."""
    pairs: list[ListLine] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.split("\n"), start=1):  # only \n ends a line (\r\n too)
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split("\t")]
        if len(fields) != 2 or not all(fields):
            problems.append(
                Problem(
                    f"{origin}:{number}",
                    ProblemKind.BAD_LINE,
                    f"got {len(fields)} tab-separated field(s) in {raw[:80]!r}, "
                    "expected image<TAB>mask",
                )
            )
            continue
        pairs.append(ListLine(number, fields[0], fields[1]))
    return pairs, problems


def format_list(pairs: list[tuple[str, str]]) -> str:
    """The inverse of `parse_list` for well-formed pairs (used to write split lists)."""
    return "".join(f"{image}\t{mask}\n" for image, mask in pairs)


def open_list(path: Path, split: str = "train", num_classes: int | None = None) -> PairedFileSource:
    """Samples named by a list file; sample ids are the image stems."""
    if not path.is_file():
        raise DatasetError(
            f"list:{path}: no such file, expected image<TAB>mask lines", path=str(path)
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"list:{path}: cannot read ({err})", path=str(path)) from err
    names, palette = resolve_classes(path.parent, num_classes, f"list:{path}")
    pairs, problems = parse_list(text, str(path))
    base = path.parent
    entries = [Entry(Path(p.image).stem, base / p.image, base / p.mask) for p in pairs]
    entries, missing = drop_missing(entries, path)
    entries, repeated = drop_duplicates(entries)
    return PairedFileSource(
        name="list",
        split=split,
        root=path,
        entries=entries,
        class_names=names,
        palette=palette,
        index_problems=problems + missing + repeated,
    )
