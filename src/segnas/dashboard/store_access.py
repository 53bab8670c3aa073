"""Reading a search store without ever writing to its directory, while a search may write it.

`segnas.search.store` opens stores read-only (`mode=ro`) with a 30 s busy timeout: right for a
report, wrong for a page that polls. Two differences here:

- a store whose write-ahead log is absent or empty holds all its rows in the main file; it is
  opened `immutable`, which takes no lock and creates no `-wal`/`-shm` files (a plain read-only
  open of a WAL store leaves both behind). If the store or its log changed during the read (a
  writer appeared), it is read again the ordinary way, which sees the log;
- a short busy timeout: a locked store becomes `StoreBusy` (the page says so and retries on its
  next poll), a damaged one `StoreDamaged` naming the file and SQLite's reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
BUSY_TIMEOUT_SECONDS = 2.0
"""How long a read waits for a writer's lock before the page reports the store busy."""
BUSY_MESSAGE = "the store is busy (a search is writing it); retrying"
Stat = tuple[int, int, int, int]


class StoreBusy(Exception):
    """The store is locked by its writer; try again on the next poll."""


class StoreDamaged(Exception):
    """The store cannot be read as a search store; the message names the file and why."""


def wal_of(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def store_stat(path: Path) -> Stat:
    """(mtime ns, size) of the store and of its write-ahead log (0, 0 when absent): changes
    whenever a search commits anything, and costs two `stat` calls."""
    out: list[int] = []
    for file in (path, wal_of(path)):
        try:
            info = file.stat()
            out += [info.st_mtime_ns, info.st_size]
        except FileNotFoundError:
            out += [0, 0]
    return (out[0], out[1], out[2], out[3])


def _connect(path: Path, immutable: bool) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    db.execute("BEGIN")  # one snapshot for every query of `read`
    return db


def _read_once(path: Path, read: Callable[[sqlite3.Connection], T], immutable: bool) -> T:
    try:
        db = _connect(path, immutable)
        try:
            return read(db)
        finally:
            db.close()
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise StoreBusy(BUSY_MESSAGE) from error
        raise StoreDamaged(f"{path}: not a readable search store ({error})") from error
    except sqlite3.DatabaseError as error:
        raise StoreDamaged(f"{path}: not a readable search store ({error})") from error


def read_store(path: Path, read: Callable[[sqlite3.Connection], T]) -> T:
    """`read(db)` on the store at `path` in one read transaction, creating no file beside it
    when no search has it open (see the module doc)."""
    if not path.is_file():
        raise StoreDamaged(f"{path}: no search store")
    before = store_stat(path)
    if before[3] == 0:  # an empty or absent write-ahead log: nothing unapplied in it
        try:
            result = _read_once(path, read, immutable=True)
        except StoreDamaged:
            if store_stat(path) == before:
                raise
        else:
            if store_stat(path) == before:
                return result
    return _read_once(path, read, immutable=False)
