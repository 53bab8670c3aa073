"""Reading pose annotation JSON: the file itself, and typed fields with errors that name them.

Annotation files hold thousands of entries written by different converters; one malformed entry
should be reported by its position, id and field rather than stop the reader or be guessed at.
Field readers raise `FieldError`; readers turn it into a `Problem` for the entry and go on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from segnas.data.source import DatasetError


class FieldError(ValueError):
    """One field of one entry is missing or malformed; the message names the field."""


def load_json(path: Path, expected: str) -> Any:
    """The parsed file; a missing, unreadable or invalid file is a `DatasetError` naming it
    (with line and column for syntax errors) and saying what was `expected`."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; expected {expected}", path=str(path))
    try:
        with path.open(encoding="utf-8") as file:
            return json.load(file)
    except json.JSONDecodeError as err:
        raise DatasetError(
            f"{path}: not valid JSON (line {err.lineno} column {err.colno}: {err.msg}); "
            f"expected {expected}",
            path=str(path),
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(
            f"{path}: cannot read ({err}); expected {expected}", path=str(path)
        ) from err


JSON_KINDS = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"))
JSON_KINDS += ((list, "a list"), (Mapping, "an object"), (type(None), "null"))


def _kind(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    return next(
        (name for kind, name in JSON_KINDS if isinstance(value, kind)), type(value).__name__
    )


def _shown(value: Any) -> str:
    """Kind and (shortened) value, for messages."""
    shown = repr(value)
    return f"{_kind(value)} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def field(entry: Any, name: str) -> Any:
    """``entry[name]``, refusing entries that are not objects or lack the field."""
    if not isinstance(entry, Mapping):
        raise FieldError(f"entry is {_kind(entry)}, expected an object")
    if name not in entry:
        raise FieldError(f"no field {name!r}")
    return entry[name]


def number(value: Any, name: str) -> float:
    """A JSON number (int or float, not a boolean) as float; NaN and infinities pass, for the
    per-sample checks to report with the keypoint they belong to."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(f"field {name!r} is {_shown(value)}, expected a number")
    return float(value)


def finite(value: Any, name: str) -> float:
    """A finite JSON number as float."""
    out = number(value, name)
    if not math.isfinite(out):
        raise FieldError(f"field {name!r} is {out}, expected a finite number")
    return out


def integer(value: Any, name: str) -> int:
    """A JSON integer (whole floats such as 1.0 pass; booleans do not)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(f"field {name!r} is {_shown(value)}, expected an integer")
    return value


def text(value: Any, name: str) -> str:
    """A non-empty JSON string."""
    if not isinstance(value, str) or not value:
        raise FieldError(f"field {name!r} is {_shown(value)}, expected a non-empty string")
    return value


def numbers(value: Any, name: str, count: int | None = None, what: str = "") -> list[float]:
    """A JSON list of numbers, of length `count` when given (`what` explains the length)."""
    if not isinstance(value, list):
        raise FieldError(f"field {name!r} is {_kind(value)}, expected a list of numbers")
    if count is not None and len(value) != count:
        because = f" ({what})" if what else ""
        raise FieldError(f"field {name!r} has {len(value)} values, expected {count}{because}")
    return [number(v, f"{name}[{k}]") for k, v in enumerate(value)]


def entry_list(data: Any, key: str | None, path: Path, expected: str) -> list[Any]:
    """The list at ``data[key]`` (or `data` itself when `key` is None); a `DatasetError` naming
    the file otherwise: without it no entry can be read."""
    if key is not None:
        if not isinstance(data, Mapping):
            raise DatasetError(
                f"{path}: the file holds {_kind(data)}, expected an object; expected {expected}",
                path=str(path),
            )
        if key not in data:
            raise DatasetError(f"{path}: no field {key!r}; expected {expected}", path=str(path))
        data = data[key]
    if not isinstance(data, list):
        where = "the file holds" if key is None else f"field {key!r} is"
        raise DatasetError(
            f"{path}: {where} {_kind(data)}, expected a list; expected {expected}", path=str(path)
        )
    return data


def identifier(value: Any, name: str) -> str:
    """An id (JSON integer or non-empty string) as the string samples are keyed by."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(
            f"field {name!r} is {_shown(value)}, expected an integer or a non-empty string"
        )
    return str(value)
