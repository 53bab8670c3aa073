"""The run directories a dashboard serves: what each is, its name in URLs, and the one door to
its files.

Everything the dashboard reads goes through a `RunDirectory`, so nothing outside the named
directories can be reached: a file path from a URL is resolved (symbolic links followed) and must
stay inside the resolved run directory, with a suffix that names a report file. The store and the
checkpoint are never served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

STORE, CONFIG = "search.sqlite", "config.yaml"
EXPERIMENTS = {
    "summary.json": "strategies",
    "ablation.json": "ablation",
    "aux.json": "aux",
    "correlation.json": "correlation",
    "noise.json": "noise",
}
"""Each experiment's summary file and the experiment it marks."""
MARKDOWN = ("experiment.md", "noise.md")
"""An experiment's text, by the file each experiment writes."""
SERVED_SUFFIXES = frozenset({".png", ".svg", ".json", ".md", ".yaml", ".txt"})
"""Files a page may open: figures, diagrams, summaries, reports, settings."""
IMAGE_SUFFIXES = (".png", ".svg")
IMAGE_FOLDERS = (".", "report")
"""Where a run keeps its figures: beside its files (experiments) and in `report/` (searches)."""
Kind = Literal["search", "experiment"]


class NotARunDirectory(FileNotFoundError):
    """A path given to the dashboard that is not a run directory; the message names it."""


@dataclass(frozen=True)
class RunDirectory:
    """One served run: `name` (unique, used in URLs), `kind`, `path` as given and `root`
    (resolved, the bound of every file served)."""

    name: str
    kind: Kind
    path: Path
    root: Path

    @property
    def store(self) -> Path:
        return self.root / STORE

    def file(self, relative: str) -> Path | None:
        """The file `relative` names inside this run, or None when it is not one a page may open:
        outside the run (`..`, absolute, a link out), not a file, or not a served suffix."""
        if not relative or "\x00" in relative or Path(relative).is_absolute():
            return None
        try:
            target = (self.root / relative).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a loop of links
            return None
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target if target.suffix.lower() in SERVED_SUFFIXES else None

    def images(self) -> list[str]:
        """Figures and diagrams a page may show, as paths relative to the run, sorted."""
        found = []
        for folder in IMAGE_FOLDERS:
            directory = self.root / folder
            if not directory.is_dir():
                continue
            for path in sorted(directory.iterdir()):
                relative = path.relative_to(self.root).as_posix()
                if path.suffix.lower() in IMAGE_SUFFIXES and self.file(relative) is not None:
                    found.append(relative)
        return found


def kind_of(path: Path) -> Kind | None:
    """What the directory holds: a search (its store, or the settings of one not started yet),
    an experiment (its text or summary), or None."""
    if (path / STORE).is_file():
        return "search"
    if any((path / name).is_file() for name in (*MARKDOWN, *EXPERIMENTS)):
        return "experiment"
    if (path / CONFIG).is_file():
        return "search"
    return None


def experiment_of(path: Path) -> str:
    """Which experiment wrote the directory, from its summary file; "unknown" without one."""
    return next((kind for name, kind in EXPERIMENTS.items() if (path / name).is_file()), "unknown")


def discover(paths: Sequence[str | Path]) -> list[RunDirectory]:
    """The runs to serve, in the order given; names are directory names, made unique with
    `-2`, `-3`. Raises NotARunDirectory naming the first path that is not a run."""
    runs: list[RunDirectory] = []
    taken: set[str] = set()
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            raise NotARunDirectory(
                f"{path}: no such directory (expected a search or experiment run directory)"
            )
        kind = kind_of(path)
        if kind is None:
            raise NotARunDirectory(
                f"{path}: not a run directory (expected {STORE} or {CONFIG} of a search, or "
                f"{' / '.join(MARKDOWN)} or a summary JSON of an experiment)"
            )
        root = path.resolve()
        name, suffix = root.name or "run", 1
        while (name if suffix == 1 else f"{name}-{suffix}") in taken:
            suffix += 1
        unique = name if suffix == 1 else f"{name}-{suffix}"
        taken.add(unique)
        runs.append(RunDirectory(unique, kind, path, root))
    return runs
