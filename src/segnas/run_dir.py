"""Run directories: files written whole or not at all, and the check that a resumed run is the same.

Searches, final training, caches and experiments are killed and resumed; a reader (the report, a
second process, a resume) must never see half a file, so every file a run keeps goes through here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


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
