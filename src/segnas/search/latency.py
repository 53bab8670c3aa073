"""Latency of a design's deployed form, and the cache that makes each measurement happen once.

A search that minds latency times what a user will run, not the search-time network: the
final decoder width and repeats, at the deployment size, in the runtime `segnas bench` times
(or the exported ONNX file in ONNX Runtime), on the chosen target with the chosen threads. The
measurement itself lives beside the runtime (`segnas.final.latency`); the search only sees a
`LatencyMeter`. Measurements go to one SQLite file shared by every run on the machine
(`$SEGNAS_CACHE/latency.sqlite`, else `~/.cache/segnas/latency.sqlite`), keyed by everything
that changes the figure, so a second search never times a design the first one timed.
"""

from __future__ import annotations

import platform
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from segnas.data.builtin.source import default_cache_root
from segnas.genotype import Genotype
from segnas.search.workers import usable_cores
from segnas.settings_io import require

TARGETS = ("cpu", "cuda", "onnxruntime-cpu")


@dataclass(frozen=True)
class LatencySettings:
    """Where and how a design's deployed form is timed (the runtime protocol of `segnas bench`)."""

    target: Literal["cpu", "cuda", "onnxruntime-cpu"] = "cpu"
    """segnas's PyTorch runtime on the CPU or on CUDA, or the exported ONNX file in ONNX
    Runtime's CPU provider."""
    size: int = 512
    """Square input side of the deployed model (the paper's 512)."""
    threads: int | None = None
    """Intra-op CPU threads of the timed runs; None: every core this process may use."""
    runs: int = 10
    """Timed forward passes; the mean is the design's latency."""
    warmup: int = 2
    """Untimed passes first."""
    channels: int = 64
    """Decoder width of the deployed model (the final recipe's C, not the search's)."""
    repeats: int = 2
    """Cell repeats of the deployed model (the final recipe's R)."""
    measure: bool | None = None
    """Time every candidate; None: when the objective needs it (latency-aware or a cap)."""

    def __post_init__(self) -> None:
        require(self.target in TARGETS, "target", self.target, f"one of {TARGETS}")
        require(self.size >= 32, "size", self.size, ">= 32 (the encoder's stride)")
        require(self.threads is None or self.threads >= 1, "threads", self.threads, ">= 1")
        require(self.runs >= 2, "runs", self.runs, ">= 2")
        require(self.warmup >= 0, "warmup", self.warmup, ">= 0")
        require(self.channels >= 8, "channels", self.channels, ">= 8")
        require(self.repeats >= 1, "repeats", self.repeats, ">= 1")


@dataclass(frozen=True)
class LatencyKey:
    """Everything that changes a measured latency; the cache's primary key."""

    design: str
    """The canonical design (`Genotype.normalized()`): symmetric duplicates share a figure."""
    classes: int
    channels: int
    repeats: int
    encoder: str
    size: int
    runtime: str
    """Target and runtime version, e.g. "cpu torch-2.14.1" or "onnxruntime-cpu ort-1.32.0"."""
    device: str
    """What ran it: the CPU model or the GPU's name."""
    threads: int


@dataclass(frozen=True)
class LatencyRecord:
    """One design's deployed latency, measured now or read from the cache."""

    key: LatencyKey
    mean_ms: float
    std_ms: float
    runs: int
    cached: bool
    """True when the figure came from the cache (no timing this time)."""
    seconds: float
    """What getting the figure cost this time (building and timing, or the cache lookup)."""

    def to_dict(self) -> dict:
        """The JSON kept with a candidate row: the key's fields, the figures, the cost."""
        return {**asdict(self.key), **{k: v for k, v in asdict(self).items() if k != "key"}}


LatencyMeter = Callable[[Genotype], LatencyRecord]
"""Gives the deployed latency of a design (the class count and settings are the meter's)."""


def cpu_name() -> str:
    """The CPU model as the kernel names it (the cache keeps figures per machine kind)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def default_cache_path() -> Path:
    return default_cache_root() / "latency.sqlite"


SCHEMA = """
CREATE TABLE IF NOT EXISTS latency (
    design TEXT NOT NULL, classes INTEGER NOT NULL, channels INTEGER NOT NULL,
    repeats INTEGER NOT NULL, encoder TEXT NOT NULL, size INTEGER NOT NULL,
    runtime TEXT NOT NULL, device TEXT NOT NULL, threads INTEGER NOT NULL,
    mean_ms REAL NOT NULL, std_ms REAL NOT NULL, runs INTEGER NOT NULL,
    measured_at REAL NOT NULL, host TEXT NOT NULL,
    PRIMARY KEY (design, classes, channels, repeats, encoder, size, runtime, device, threads)
);
"""
KEY_FIELDS = tuple(LatencyKey.__dataclass_fields__)


class LatencyCache:
    """Measured latencies in one SQLite file, shared by runs and processes (WAL, atomic)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def get(self, key: LatencyKey) -> tuple[float, float, int] | None:
        """(mean ms, std ms, runs) measured earlier for `key`, or None."""
        where = " AND ".join(f"{name} = ?" for name in KEY_FIELDS)
        row = self.db.execute(
            f"SELECT mean_ms, std_ms, runs FROM latency WHERE {where}", astuple_key(key)
        ).fetchone()
        return None if row is None else (float(row[0]), float(row[1]), int(row[2]))

    def put(self, key: LatencyKey, mean_ms: float, std_ms: float, runs: int) -> None:
        names = ", ".join(KEY_FIELDS)
        marks = ", ".join("?" for _ in range(len(KEY_FIELDS) + 5))
        self.db.execute(
            f"INSERT OR REPLACE INTO latency ({names}, mean_ms, std_ms, runs, measured_at, host)"
            f" VALUES ({marks})",
            (*astuple_key(key), mean_ms, std_ms, runs, time.time(), platform.node()),
        )

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM latency").fetchone()[0])


def astuple_key(key: LatencyKey) -> tuple:
    return tuple(getattr(key, name) for name in KEY_FIELDS)


def cached_measurement(
    cache: LatencyCache | None,
    key: LatencyKey,
    measure: Callable[[], tuple[float, float, int]],
) -> LatencyRecord:
    """The cached figure for `key`, else `measure()`'s (mean ms, std ms, runs), stored."""
    start = time.perf_counter()
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        mean_ms, std_ms, runs = measure()
        if cache is not None:
            cache.put(key, mean_ms, std_ms, runs)
    else:
        mean_ms, std_ms, runs = hit
    return LatencyRecord(key, mean_ms, std_ms, runs, hit is not None, time.perf_counter() - start)


def usable_threads(threads: int | None) -> int:
    """`threads`, or every core this process may run on."""
    return threads if threads is not None else usable_cores()
