"""The run-directory module: one resume check, cleanup after an early failure, atomic folders,
the record of overrides and the fields an older config file lacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from segnas.run_dir import (
    ResumeError,
    atomic_write_folder,
    check_same,
    differences,
    missing_fields,
    read_overrides,
    record_overrides,
    removed_on_failure,
)

STORED = {"genotype": "a", "settings": {"epochs": 1, "decoder": {"channels": 48}}, "old": 1}


def test_differences_name_each_dotted_field_once() -> None:
    now = {"genotype": "b", "settings": {"epochs": 2, "decoder": {"channels": 48}}, "new": 3}
    assert differences(STORED, now) == [
        "genotype: run has 'a', now 'b'",
        "new: run has (absent), now 3",
        "old: run has 1, now (absent)",
        "settings.epochs: run has 1, now 2",
    ]
    assert differences(STORED, STORED) == []
    assert differences(STORED, now, ignore=("settings", "new", "old"), holder="x") == [
        "genotype: x has 'a', now 'b'"
    ]


def test_check_same_lists_every_difference_once_with_the_hint() -> None:
    now = {**STORED, "genotype": "b", "settings": {"epochs": 5, "decoder": {"channels": 64}}}
    with pytest.raises(ResumeError) as caught:
        check_same("RUN/checkpoint.pt", STORED, now, hint="use --override")
    text = str(caught.value)
    assert text.startswith("RUN/checkpoint.pt: ")
    lines = text.splitlines()
    assert lines[1:] == [
        "  genotype: run has 'a', now 'b'",
        "  settings.decoder.channels: run has 48, now 64",
        "  settings.epochs: run has 1, now 5",
        "use --override",
    ]
    check_same("RUN", STORED, dict(STORED))  # equal: no error


def test_removed_on_failure_removes_only_what_the_block_added(tmp_path: Path) -> None:
    new = tmp_path / "new"
    with pytest.raises(RuntimeError, match="bad data"):
        with removed_on_failure(new):
            new.mkdir()
            (new / "config.yaml").write_text("x")
            raise RuntimeError("bad data")
    assert not new.exists()
    nested = tmp_path / "runs" / "search-1"
    with pytest.raises(RuntimeError):
        with removed_on_failure(nested):
            nested.mkdir(parents=True)
            raise RuntimeError("refused")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # `runs/` was made here too

    old = tmp_path / "old"
    old.mkdir()
    (old / "keep.txt").write_text("kept")
    with pytest.raises(KeyboardInterrupt):
        with removed_on_failure(old):
            (old / "split.json").write_text("{}")
            (old / "cache").mkdir()
            (old / "keep.txt").write_text("rewritten")
            raise KeyboardInterrupt
    assert sorted(p.name for p in old.iterdir()) == ["keep.txt"]

    with removed_on_failure(new):
        new.mkdir()
        (new / "a").write_text("a")
    assert (new / "a").read_text() == "a"  # success keeps everything


def test_atomic_write_folder_renames_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "key"

    def fill(folder: Path, text: str) -> None:
        (folder / "meta.json").write_text(text)

    assert atomic_write_folder(target, lambda tmp: fill(tmp, "first")) is True
    assert atomic_write_folder(target, lambda tmp: fill(tmp, "second")) is False
    assert (target / "meta.json").read_text() == "first"

    def broken(folder: Path) -> None:
        (folder / "half.npy").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_folder(tmp_path / "cache" / "other", broken)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["key"]


def test_overrides_are_appended_one_entry_per_resume(tmp_path: Path) -> None:
    assert read_overrides(tmp_path) == []
    record_overrides(tmp_path, ["budget: run has 3, now 5"])
    record_overrides(tmp_path, [], ["evolution.population"])
    entries = read_overrides(tmp_path)
    assert [e["changed"] for e in entries] == [["budget: run has 3, now 5"], []]
    assert [e["filled"] for e in entries] == [[], ["evolution.population"]]
    assert all(e["time"][:2] == "20" for e in entries)


@dataclass(frozen=True)
class Inner:
    size: int = 3


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    extra: Inner | None = None


def test_missing_fields_are_those_the_file_does_not_name(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("name: y\nextra: null\n")
    assert missing_fields(path, Outer(name="y")) == ["inner.size"]
    path.write_text("name: y\ninner:\n  size: 4\nextra: null\n")
    assert missing_fields(path, Outer("y", Inner(4))) == []
