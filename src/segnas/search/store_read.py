"""Reading a search store without ever writing to its directory, while a search may write it.

Every reader of a store (`segnas report`, the experiments' source runs, the dashboard) goes
through `read_store`:

- a store whose write-ahead log is absent or empty holds all its rows in the main file; it is
  opened `immutable`, which takes no lock and creates no `-wal`/`-shm` files (a plain read-only
  open of a WAL store leaves both behind, even in a finished run's directory). If the store or
  its log changed during the read (a writer appeared), it is read again the ordinary way,
  which sees the log;
- every query of one read sees the same snapshot (one read transaction);
- a store locked past `timeout` raises `StoreBusy` (a report waits long, a polled page briefly),
  a damaged one `StoreDamaged` naming the file and SQLite's reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
BUSY_TIMEOUT_SECONDS = 30.0
"""How long a read waits for a writer's lock by default (the dashboard waits less)."""
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


def _connect(path: Path, immutable: bool, timeout: float) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    db.execute("BEGIN")  # one snapshot for every query of `read`
    return db


def _read_once(
    path: Path, read: Callable[[sqlite3.Connection], T], immutable: bool, timeout: float
) -> T:
    try:
        db = _connect(path, immutable, timeout)
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


def read_store(
    path: Path, read: Callable[[sqlite3.Connection], T], timeout: float | None = None
) -> T:
    """`read(db)` on the store at `path` in one read transaction, creating no file beside it
    when no search has it open (see the module doc); waits up to `timeout` seconds (default
    `BUSY_TIMEOUT_SECONDS`) for a writer's lock."""
    wait = BUSY_TIMEOUT_SECONDS if timeout is None else timeout
    if not path.is_file():
        raise StoreDamaged(f"{path}: no search store")
    before = store_stat(path)
    if before[3] == 0:  # an empty or absent write-ahead log: nothing unapplied in it
        try:
            result = _read_once(path, read, True, wait)
        except StoreDamaged:
            if store_stat(path) == before:
                raise
        else:
            if store_stat(path) == before:
                return result
    return _read_once(path, read, False, wait)
