"""ARCH on the command line: a known design, an encoding (given or in a file), the design of a
model file, or a design picked from a search. Every command that takes a design reads it here.

Grammar::

    arch0 | arch1 | arch2     the paper's designs
    '[[[3, 3], ...], [...]]'  an encoding (either order of the two halves)
    FILE                      a file holding such an encoding, or a segnas model file (its design)
    RUN_DIR:best              the best finished candidate of the search in RUN_DIR (by the
                              re-scored mean when the run re-scored its leading designs)
    RUN_DIR:N                 its N-th best (1-based), ranked as `segnas report` ranks them
    smp:unet | smp:fpn | smp:deeplabv3plus
                              a hand-designed baseline (`segnas.baselines`), for `train`,
                              `bench` and what reads their model files; not a searched design
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segnas.baselines import BASELINES, check_baseline_name, is_baseline_name
from segnas.genotype import KNOWN_DESIGNS, Genotype, GenotypeError, parse, resolve
from segnas.report.run_report import load_run
from segnas.search.rescore import rescored_best
from segnas.search.store import ranked
from segnas.space.model_file import ModelFileError, read_payload

GRAMMAR = (
    "a known design (arch0, arch1, arch2), a JSON encoding, a file holding one, "
    "a segnas model file, RUN_DIR:best or RUN_DIR:N; for train and bench also a "
    f"hand-designed baseline ({', '.join(BASELINES)})"
)


@dataclass(frozen=True)
class ArchRef:
    """A resolved ARCH: the text as given, the genotype (or baseline), and where it came from."""

    text: str
    genotype: Genotype | None
    """The found design; None for a baseline."""
    origin: dict[str, Any] = field(default_factory=dict)
    """For search picks: run directory, candidate id, rank and reward (for model cards); for
    files: the file."""
    baseline: str | None = None
    """A hand-designed baseline's name (`smp:unet`) instead of a genotype."""

    @property
    def design(self) -> str:
        """What model files record: the genotype's canonical string, or the baseline's name."""
        return self.baseline if self.baseline is not None else str(self.genotype)

    def searched(self) -> Genotype:
        """The genotype, for what only a searched design has (diagrams, cost per part, the
        search's candidate training); a baseline is refused by name."""
        if self.genotype is None:
            raise ValueError(
                f"{self.baseline} is a hand-designed baseline, not a searched design "
                f"(`segnas bench {self.baseline}` gives its parameters, multiply-adds and latency)"
            )
        return self.genotype

    @property
    def slug(self) -> str:
        """A short file-name-safe name: `arch1`, `smp-unet`, `search-x-best`, `FILE-STEM`,
        `json-<8 hex>`."""
        if self.text in KNOWN_DESIGNS:
            return self.text
        if self.baseline is not None and "file" not in self.origin:
            return self.baseline.replace(":", "-")
        if "run_dir" in self.origin:
            name = f"{Path(self.origin['run_dir']).name}-{self.text.rpartition(':')[2]}"
        elif "file" in self.origin:
            name = Path(self.origin["file"]).stem
        else:
            return "json-" + hashlib.sha256(str(self.genotype).encode()).hexdigest()[:8]
        return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def resolve_arch(text: str) -> ArchRef:
    """Resolve ARCH (grammar in the module docstring); errors name the part that is wrong."""
    stripped = text.strip()
    if stripped in KNOWN_DESIGNS or stripped.startswith("["):
        return ArchRef(stripped, resolve(stripped))
    if Path(stripped).is_file():
        return _from_file(stripped, Path(stripped))
    run_dir, sep, which = stripped.rpartition(":")
    if is_baseline_name(stripped) and not Path(run_dir).is_dir():  # `smp:N` of a run dir `smp`
        check_baseline_name(stripped)
        return ArchRef(stripped, None, baseline=stripped)
    if not sep or not run_dir:
        raise ValueError(f"ARCH {text!r}: expected {GRAMMAR}")
    if which != "best" and not which.isdigit():
        raise ValueError(f"ARCH {text!r}: after the colon expected `best` or a rank N >= 1")
    best = which == "best"
    return _from_search(stripped, Path(run_dir), 1 if best else int(which), best)


def _from_file(text: str, path: Path) -> ArchRef:
    """A text file holding an encoding, else a segnas model file (its stored design)."""
    origin = {"file": str(path)}
    head = path.read_bytes()[: 1 << 16]
    if head.lstrip().startswith(b"["):
        try:
            return ArchRef(text, parse(head.decode("utf-8").strip()), origin)
        except (UnicodeDecodeError, GenotypeError) as error:
            raise ValueError(
                f"ARCH {text!r}: the encoding in {path} is not valid: {error}"
            ) from None
    try:
        stored = read_payload(path)["meta"]["genotype"]
        if isinstance(stored, str) and is_baseline_name(stored):
            check_baseline_name(stored)
            return ArchRef(text, None, origin, baseline=stored.strip())
        return ArchRef(text, parse(stored), origin)
    except (ModelFileError, KeyError, TypeError, GenotypeError) as error:
        raise ValueError(
            f"ARCH {text!r}: {path} holds neither a JSON encoding nor a segnas model file "
            f"({error}); expected {GRAMMAR}"
        ) from None


def _from_search(text: str, run_dir: Path, rank: int, best: bool = False) -> ArchRef:
    if not run_dir.is_dir():
        raise FileNotFoundError(f"ARCH {text!r}: {run_dir} is not a directory")
    run = load_run(run_dir)
    scored = ranked(run["rows"], objective=run["objective"])
    if not scored:
        counts = ", ".join(f"{n} {status}" for status, n in run["counts"].items() if n)
        raise ValueError(
            f"ARCH {text!r}: the search in {run_dir} has no finished candidate yet "
            f"({counts or 'no candidates'})"
        )
    if not 1 <= rank <= len(scored):
        raise ValueError(
            f"ARCH {text!r}: rank {rank} out of range; the search in {run_dir} has "
            f"{len(scored)} finished candidate{'s' if len(scored) > 1 else ''} (1..{len(scored)})"
        )
    row = scored[rank - 1]
    again = rescored_best(run["rescore"]) if best else None
    if again is not None:  # the run named its best by re-scoring: that one, not the lucky draw
        row = next(r for r in scored if r["id"] == again["id"])
    origin = {
        "run_dir": str(run_dir),
        "candidate": row["id"],
        "rank": rank,
        "reward": row["reward"],
    }
    return ArchRef(text, parse(row["genotype"]), origin)
