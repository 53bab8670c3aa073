"""Page data per run as JSON bytes with a version, rebuilt only when the run's files change.

A poll first compares a stat of the run's files (the store, its write-ahead log, the settings,
the figure folders): unchanged, it gets the cached bytes without opening SQLite. The version is
a hash of the page's content, so a rebuild that finds the same content (a checkpoint rewrote
the store) keeps the version and the page's conditional poll still gets 304. A stat taken within
`RACY_SECONDS` of a file's modification time is not trusted (a second write in the same clock
tick would leave it unchanged), so the next poll reads the store again.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from segnas.dashboard.data import StoreScan, finite, scan_store, search_fields
from segnas.dashboard.runs import EXPERIMENTS, MARKDOWN, RunDirectory, experiment_of
from segnas.search.objective import ObjectiveSettings, objective_from
from segnas.search.store_read import StoreBusy, StoreDamaged, read_store, store_stat

BUSY_TIMEOUT_SECONDS = 2.0
"""How long a page's read waits for a writer's lock before it says the store is busy and
shows the last rows read (the next poll tries again)."""
RACY_SECONDS = 2.0
"""How recent a file's modification may be before its stat is not trusted as a fingerprint."""
NOT_STARTED = "no candidate started yet"


@dataclass(frozen=True)
class Page:
    """One run's page data as sent: `body` (JSON bytes) and its `version` (the ETag)."""

    version: str
    body: bytes


@dataclass
class _Entry:
    stat: tuple = ()
    racy: bool = True
    page: Page | None = None
    scan: StoreScan | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
        return info.st_mtime_ns, info.st_size
    except OSError:
        return 0, 0


def _dumps(value: dict[str, Any]) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(finite(value))


def compose(head: dict[str, Any], candidates: str | None = None) -> Page:
    """The page's JSON from its fields and (search runs) the candidates' comma-joined JSON,
    with `version` the hash of everything else."""
    core = _dumps(head)
    if candidates is not None:
        core = f'{core[:-1]}, "candidates": [{candidates}]}}'
    data = core.encode("utf-8")
    digest = f"{zlib.crc32(data):08x}{len(data):x}"  # a change detector, not a signature
    return Page(digest, b'{"version": "' + digest.encode() + b'", ' + data[1:])


def read_settings(run: RunDirectory) -> tuple[dict[str, Any], ObjectiveSettings, str | None]:
    """(the run's config.yaml parsed, its objective, a problem to show or None)."""
    path = run.root / "config.yaml"
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        settings = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except FileNotFoundError:
        return {}, ObjectiveSettings(), None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        return {}, ObjectiveSettings(), f"{path}: not readable as YAML settings ({error})"
    if not isinstance(settings, dict):
        return {}, ObjectiveSettings(), f"{path}: expected a mapping of settings"
    try:
        return settings, objective_from(settings), None
    except (TypeError, ValueError) as error:
        return settings, ObjectiveSettings(), f"{path}: objective: {error}"


def _fingerprint(run: RunDirectory) -> tuple[tuple, int]:
    """(stats that change whenever the run's page could, the newest modification time among
    them in ns): the store and its log, the settings, the folders figures appear in; for an
    experiment, every file beside its text."""
    if run.kind == "search":
        db_time, db_size, wal_time, wal_size = store_stat(run.store)
        others = [_stat(run.root / name) for name in ("config.yaml", ".", "report")]
        times = [db_time, wal_time, *(t for t, _ in others)]
        return (db_time, db_size, wal_time, wal_size, *others), max(times)
    try:
        files = sorted((p.name, _stat(p)) for p in run.root.iterdir())
    except OSError:
        files = []
    listing = _stat(run.root)
    return (listing, *files), max([listing[0], *(t for _, (t, _) in files)])


def _gone(run: RunDirectory) -> str:
    if not run.root.is_dir():
        return f"{run.path}: the run directory is gone (moved or deleted since the start)"
    return f"{run.path}: no search.sqlite or config.yaml any more"


class Pages:
    """The cache of every served run's page, safe to use from the server's worker threads."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()

    def clear(self) -> None:
        """Forget every cached page (the benchmark's cold start)."""
        with self._guard:
            self._entries.clear()

    def page(self, run: RunDirectory) -> Page:
        """The run's current page data, from the cache while its files are unchanged."""
        with self._guard:
            entry = self._entries.setdefault(run.name, _Entry())
        with entry.lock:
            stat, newest = _fingerprint(run)
            if entry.page is not None and stat == entry.stat and not entry.racy:
                return entry.page
            entry.racy = time.time_ns() - newest < RACY_SECONDS * 1e9
            if run.kind == "search":
                entry.page = self._search(run, entry)
            else:
                entry.page = self._experiment(run)
            entry.stat = stat
            return entry.page

    def _search(self, run: RunDirectory, entry: _Entry) -> Page:
        settings, objective, problem = read_settings(run)
        message = None
        try:
            previous = entry.scan
            entry.scan = (
                read_store(run.store, lambda db: scan_store(db, previous), BUSY_TIMEOUT_SECONDS)
                if run.store.is_file()
                else StoreScan()
            )
            scan = entry.scan
        except StoreBusy as busy:  # show the last rows read, and read again on the next poll
            scan, message, entry.racy = entry.scan or StoreScan(), str(busy), True
        except StoreDamaged as damaged:
            scan, message, entry.scan = StoreScan(), str(damaged), None
        if message is None and not scan.started:
            message = NOT_STARTED if (run.root / "config.yaml").is_file() else _gone(run)
        head = {
            "name": run.name,
            "kind": "search",
            "status": {"message": message or problem},
            **search_fields(scan, settings, objective),
            "files": run.images(),
        }
        return compose(head, scan.candidates)

    def _experiment(self, run: RunDirectory) -> Page:
        problems = [] if run.root.is_dir() else [_gone(run)]
        markdown = next((run.root / n for n in MARKDOWN if (run.root / n).is_file()), None)
        text = ""
        if markdown is not None:
            try:
                text = markdown.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                problems.append(f"{markdown}: not readable as text ({error})")
        summary = None
        source = next((run.root / n for n in EXPERIMENTS if (run.root / n).is_file()), None)
        if source is not None:
            try:
                summary = json.loads(source.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as error:
                problems.append(f"{source}: not readable as JSON ({error})")
        head = {
            "name": run.name,
            "kind": "experiment",
            "experiment": experiment_of(run.root),
            "status": {"message": "; ".join(problems) or None},
            "markdown": text,
            "summary": summary,
            "images": run.images(),
        }
        return compose(head)
