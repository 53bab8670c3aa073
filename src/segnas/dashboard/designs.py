"""One candidate as the design view shows it: its whole row, its `describe` text and diagram.

Nothing is built: the figures come from the row (params and multiply-adds were counted when the
candidate ran) and the diagram from the genotype alone, so a click costs a row read. Diagrams
are cached per design, since a user clicks the same few top candidates again and again.
"""

from __future__ import annotations

import json
import sqlite3
from functools import lru_cache
from typing import Any

from segnas.dashboard.data import candidate_row, finite, genotype_of
from segnas.encoders import ENCODER_TAPS
from segnas.genotype import DEFAULT_SPACE, GenotypeError, SearchSpace, parse
from segnas.report.diagram import draw_genotype
from segnas.search.store import SCORED

DEFAULT_ENCODER = "mobilenet_v2"
DIAGRAMS_KEPT = 256


class DesignError(ValueError):
    """A stored genotype this dashboard cannot read or draw; the message says why."""


def space_of(db: sqlite3.Connection) -> SearchSpace:
    """The run's search space, from the identity the search recorded (older runs: the default)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
        space = json.loads(row[0]).get("space") if row else None
        return SearchSpace(**space) if isinstance(space, dict) else DEFAULT_SPACE
    except (sqlite3.DatabaseError, TypeError, ValueError, AttributeError):
        return DEFAULT_SPACE


def read_candidate(db: sqlite3.Connection, index: int) -> tuple[dict[str, Any] | None, SearchSpace]:
    """(candidate `index`'s row or None, the run's space): one read transaction."""
    return candidate_row(db, index), space_of(db)


def read_genotype(db: sqlite3.Connection, index: int) -> tuple[str | None, SearchSpace]:
    return genotype_of(db, index), space_of(db)


def describe(genotype: str, space: SearchSpace, row: dict[str, Any]) -> dict[str, Any]:
    """`describe` text, canonical form (the normalized genotype: symmetric twins share it) and
    the counted cost. Raises DesignError for a genotype of another space or format."""
    try:
        design = parse(genotype, space)
    except GenotypeError as error:
        raise DesignError(f"candidate {row['id']}: genotype does not parse ({error})") from error
    return {
        "text": design.describe(space.num_taps),
        "canonical": str(design.normalized()),
        "params": row["params"],
        "madds": row["madds"],
    }


def candidate_detail(row: dict[str, Any], space: SearchSpace, diagram_url: str) -> dict[str, Any]:
    """The design view's data: the whole row (reward only where scored, as in the table) with
    `failure` in full, plus `describe` and the diagram's URL; NaN and infinities as null."""
    detail = dict(row)
    if row["status"] not in SCORED:
        detail["reward"] = None
    detail["describe"] = describe(row["genotype"], space, row)
    detail["diagram_url"] = diagram_url
    return finite(detail)


@lru_cache(maxsize=DIAGRAMS_KEPT)
def diagram_svg(genotype: str, space: SearchSpace, encoder: str) -> str:
    """The design's SVG diagram with the taps of `encoder` (the default's when unknown)."""
    taps = ENCODER_TAPS.get(encoder, ENCODER_TAPS[DEFAULT_ENCODER])
    try:
        design = parse(genotype, space)
        return draw_genotype(design, None, tap_strides=taps.strides, tap_channels=taps.channels)
    except ValueError as error:  # GenotypeError included
        raise DesignError(f"genotype {genotype}: cannot be drawn ({error})") from error


def clear_cache() -> None:
    """Forget every drawn diagram (the benchmark's cold start)."""
    diagram_svg.cache_clear()
