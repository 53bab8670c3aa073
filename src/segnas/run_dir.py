"""Run directories: files written whole or not at all, the check that a resumed run is the same,
and cleaning up after a run that failed before its first result.

Searches, final training, caches and experiments are killed and resumed; a reader (the report, a
second process, a resume) must never see half a file, so every file a run keeps goes through here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """`write(tmp)` beside `path`, then rename over it: a crash leaves the old file or the new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_torch_save(payload: Any, path: Path) -> None:
    """Write `payload` to `path` so that a crash leaves the old file or the new, never half."""
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader or a crash never sees half of it."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader or a crash never sees half of it."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_json(path: Path, payload: Any, indent: int | None = 2) -> None:
    """Write `payload` as JSON (one trailing newline) so that a reader never sees half of it."""
    atomic_write_text(path, json.dumps(payload, indent=indent) + "\n")


def atomic_write_folder(path: Path, fill: Callable[[Path], None]) -> bool:
    """`fill(tmp)` in a private folder beside `path`, then rename it to `path`.

    Readers never see half a folder. Returns False when another process renamed its own copy
    into place first (same key, same content): this one is then discarded.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        fill(tmp)
        try:
            os.replace(tmp, path)
        except OSError:  # `path` exists and is not empty: another process finished first
            return False
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def removed_on_failure(run_dir: Path) -> Iterator[Path]:
    """Inside: set a run up. On any error, remove what the block added to `run_dir` (the folder
    itself, and any parent folder that did not exist either), so a command that fails before its
    first result leaves nothing behind; files that were there before are left alone."""
    run_dir = Path(run_dir)
    existed = run_dir.is_dir()
    before = set(run_dir.iterdir()) if existed else set()
    created = run_dir
    while not created.parent.exists() and created.parent != created:
        created = created.parent  # `runs/` of `runs/search-TIME`, when this call makes it
    try:
        yield run_dir
    except BaseException:
        if not existed:
            shutil.rmtree(created, ignore_errors=True)
        elif run_dir.is_dir():
            for entry in set(run_dir.iterdir()) - before:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


class ResumeError(ValueError):
    """A run (or experiment) that cannot go on with the inputs given; says what differs."""


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one mapping of dotted keys (`decoder.channels`); other values kept."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


ABSENT = "(absent)"


def differences(
    stored: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    ignore: Iterable[str] = (),
    holder: str = "run",
) -> list[str]:
    """One line per dotted field that differs: "FIELD: run has X, now Y", in field order.

    `ignore` names fields (or whole blocks: a prefix before a dot) allowed to differ.
    """
    skip = tuple(ignore)
    old, new = flatten(stored), flatten(current)
    lines = []
    for key in sorted(set(old) | set(new)):
        if any(key == s or key.startswith(s + ".") for s in skip):
            continue
        if old.get(key, ABSENT) != new.get(key, ABSENT):
            was = repr(old[key]) if key in old else ABSENT
            now = repr(new[key]) if key in new else ABSENT
            lines.append(f"{key}: {holder} has {was}, now {now}")
    return lines


def check_same(
    where: str,
    stored: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    ignore: Iterable[str] = (),
    holder: str = "run",
    hint: str = "",
) -> None:
    """Refuse to go on when `current` differs from what `where` holds: one `ResumeError`
    listing every differing field once, then `hint` (how to proceed anyway, if there is a way)."""
    lines = differences(stored, current, ignore=ignore, holder=holder)
    if lines:
        body = "\n".join(f"  {line}" for line in lines)
        tail = f"\n{hint}" if hint else ""
        raise ResumeError(f"{where}: cannot go on with other inputs:\n{body}{tail}")


OVERRIDES_FILE = "overrides.jsonl"
"""Settings a resumed run accepted that differ from those it started with, one JSON per resume."""


def record_overrides(run_dir: Path, changed: list[str], filled: Iterable[str] = ()) -> None:
    """Append one line to `RUN_DIR/overrides.jsonl`: the time, the accepted differences
    ("FIELD: run has X, now Y") and the fields filled from defaults (an older config file)."""
    path = Path(run_dir) / OVERRIDES_FILE
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "changed": list(changed),
        "filled": list(filled),
    }
    atomic_write_text(path, old + json.dumps(entry) + "\n")


def read_overrides(run_dir: Path) -> list[dict[str, Any]]:
    """Every entry of `RUN_DIR/overrides.jsonl`, oldest first; none when the run never had one."""
    path = Path(run_dir) / OVERRIDES_FILE
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def missing_fields(path: Path, loaded: Any) -> list[str]:
    """Dotted fields of the settings `loaded` from the YAML file `path` that the file did not
    name (an older version wrote it; loading filled them from the defaults)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    given = flatten(raw) if isinstance(raw, Mapping) else {}
    blocks = {key for key, value in given.items() if value is None}
    out = []
    for key in flatten(dataclasses.asdict(loaded)):
        if key not in given and not any(key.startswith(b + ".") for b in blocks):
            out.append(key)
    return out
