"""Typed settings: dataclasses loaded from YAML, overridden from the command line, dumped resolved.

Every setting lives in a dataclass field with a type hint and a docstring right below it, so the
code, `--help-config` and the YAML written next to each run all say the same thing. Input from
files and `--set` goes through one type check (`from_dict`) and then the config's own `validate()`,
and every error names the dotted field path, so a typo fails at start, not an hour into a search.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import textwrap
import types
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from segnas.run_dir import atomic_write_text

C = TypeVar("C")
_NONE = type(None)
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")  # what YAML 1.1 misses


class SettingsError(ValueError):
    """Settings that cannot be used; the message starts with the file and/or dotted field path."""


class FieldError(ValueError):
    """A settings class's own check failed on one field.

    Settings classes raise it from `__post_init__`, which knows the field but not where the
    settings sit in a larger config; `from_dict` puts that dotted path in front, so a nested
    error reads `evaluation.stage2.epochs: got 0, expected >= 1`.
    """

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.detail = f"got {value!r}, expected {expected}"
        super().__init__(f"{field}: {self.detail}")


def require(ok: bool, field: str, value: Any, expected: str) -> None:
    """Raise `FieldError(field, value, expected)` unless `ok`: one line per check."""
    if not ok:
        raise FieldError(field, value, expected)


class _Mismatch(SettingsError):
    """A value of the wrong type at `where`; unions catch it to try their next option."""

    def __init__(self, where: str, value: Any, expected: str) -> None:
        self.where = where
        super().__init__(f"{where}: expected {expected}, got {value!r} ({type(value).__name__})")


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal right below it), "" where there is none.

    Python drops these strings at run time, so they are read back from the source; base classes
    are read too, so a subclass inherits the documentation of the fields it inherits.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if is_dataclass(klass):
            docs.update(_own_docs(klass))
    return {f.name: docs.get(f.name, "") for f in fields(cls)}


@functools.cache
def _own_docs(cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):  # no source (REPL, frozen app): no docs, no failure
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for stmt, after in zip(body, body[1:]):
        text = getattr(after.value, "value", None) if isinstance(after, ast.Expr) else None
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(text, str)
        ):
            docs[stmt.target.id] = inspect.cleandoc(text)
    return docs


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """Resolved hints of the fields a config is built from (string annotations included)."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.init}


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _unknown(where: str, cls: type) -> SettingsError:
    allowed = ", ".join(_field_types(cls))
    return SettingsError(f"{where}: unknown key; {cls.__name__} allows: {allowed}")


def from_dict(cls: type[C], data: Mapping[str, Any], *, where: str = "") -> C:
    """Build `cls` from plain data (parsed YAML, overrides), checking every key and type.

    `where` is the dotted path of `data` inside the top config, so nested errors name the full
    path. The result is checked by the config's own `validate()`, if it has one.
    """
    if not isinstance(data, Mapping):
        raise _Mismatch(where or cls.__name__, data, f"a mapping of {cls.__name__} fields")
    types_ = _field_types(cls)
    for key in data:
        if key not in types_:
            raise _unknown(_join(where, str(key)), cls)
    for f in fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        if f.init and required and f.name not in data:
            raise SettingsError(f"{_join(where, f.name)}: missing (this field has no default)")
    kwargs = {key: _coerce(value, types_[key], _join(where, key)) for key, value in data.items()}
    try:
        config = cls(**kwargs)
        validate = getattr(config, "validate", None)
        if callable(validate):
            validate()
    except FieldError as exc:  # the field is known: its dotted path leads the message
        raise SettingsError(f"{_join(where, exc.field)}: {exc.detail}") from exc
    except ValueError as exc:  # __post_init__ or validate(): add the path they cannot know
        raise SettingsError(f"{where or cls.__name__}: {exc}") from exc
    return config


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """`value` as type `tp`, or _Mismatch; strict, so YAML's guesses never pass silently."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if isinstance(tp, type) and is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return from_dict(tp, value, where=where)
    elif origin in (Union, types.UnionType):
        if value is None and _NONE in args:
            return None
        for option in (a for a in args if a is not _NONE):
            try:
                return _coerce(value, option, where)
            except _Mismatch as exc:
                if exc.where != where:  # failed deeper inside: that error is the useful one
                    raise
    elif origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise _Mismatch(where, value, "one of " + ", ".join(map(repr, args)))
    elif origin in (tuple, list) or tp in (tuple, list):
        fixed = origin is tuple and args and args[-1] is not Ellipsis
        if isinstance(value, (list, tuple)) and (not fixed or len(value) == len(args)):
            item_types = args if fixed else (args[0] if args else Any,) * len(value)
            items = [
                _coerce(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, item_types))
            ]
            return (origin or tp)(items)
    elif tp is float:
        # PyYAML (YAML 1.1) reads `1e-3` as text, and learning rates are written that way.
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number or isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):
            return float(value)
    elif tp in (int, bool, str):
        if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
            return value
    else:
        raise TypeError(f"{where}: config fields of type {tp!r} are not supported")
    raise _Mismatch(where, value, _type_name(tp))


def _type_name(tp: Any) -> str:
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return " | ".join(map(_type_name, args))
    if origin is Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if args:
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    return "None" if tp is _NONE else getattr(tp, "__name__", repr(tp))


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested data (tuples as lists) that `from_dict` turns back into an equal config."""
    return {f.name: _plain(getattr(config, f.name)) for f in fields(config) if f.init}


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_yaml(cls: type[C], path: str | Path) -> C:
    """Read a config file; keys it leaves out keep their defaults, an empty file is all defaults."""
    return load_layers(cls, None, path)


def to_yaml(config: Any) -> str:
    """The resolved config as YAML, each field preceded by its docstring as `#` comments."""
    lines = [f"# Resolved {type(config).__name__}; reload it with --config."]
    _emit(config, "", lines)
    return "\n".join(lines) + "\n"


def _emit(config: Any, pad: str, lines: list[str]) -> None:
    docs = field_docs(type(config))
    for f in fields(config):
        if not f.init:
            continue
        lines.extend(f"{pad}# {line}".rstrip() for line in docs[f.name].splitlines())
        value = getattr(config, f.name)
        if is_dataclass(value) and any(g.init for g in fields(value)):
            lines.append(f"{pad}{f.name}:")
            _emit(value, pad + "  ", lines)
        else:
            text = yaml.safe_dump(_plain(value), default_flow_style=True, width=1 << 16)
            first, *more = text.removesuffix("...\n").rstrip("\n").split("\n")
            lines.append(f"{pad}{f.name}: {first}")
            lines.extend(f"{pad}  {line}" for line in more)  # a quoted string's line breaks


def dump_yaml(config: Any, path: str | Path) -> None:
    """Write `to_yaml(config)` to `path`, so each run keeps the exact settings it ran with."""
    atomic_write_text(Path(path), to_yaml(config))


def _type_at(cls: type, path: str) -> Any:
    """The type hint of the field at a dotted path, stepping through `Config | None` fields."""
    tp: Any = cls
    where = ""
    for name in path.split("."):
        klass = _config_class(tp)
        if klass is None:
            raise SettingsError(f"{where}: is {_type_name(tp)}, which has no key {name!r}")
        where = _join(where, name)
        if name not in _field_types(klass):
            raise _unknown(where, klass)
        tp = _field_types(klass)[name]
    return tp


def _config_class(tp: Any) -> type | None:
    options = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
    found = [t for t in options if isinstance(t, type) and is_dataclass(t)]
    return found[0] if len(found) == 1 else None


def _merge(base: Any, update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in update.items():
        nested = isinstance(value, Mapping) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if nested else value
    return out


def replace_paths(config: C, items: Iterable[tuple[str, Any, str | None]]) -> C:
    """Set each (dotted path, value, raw text or None) in order; rebuild and validate once.

    Validating once lets `--set lo=5 --set hi=9` pass through a state where lo > hi. The command
    line's layers meet here: its shortcuts (`--budget 3` is ("budget", 3, None)), then its `--set`
    items (`parse_overrides`), so every one goes through the same type check and validation.
    """
    data = to_dict(config)
    for path, value, raw in items:
        tp = _type_at(type(config), path)
        *parents, last = path.split(".")
        node = data
        for name in parents:
            if not isinstance(node.get(name), dict):
                node[name] = {}  # a `Config | None` that was None: start from its defaults
            node = node[name]
        if _config_class(tp) is not None and isinstance(value, Mapping):
            node[last] = _merge(node.get(last), value)  # update only the keys given
            continue
        try:
            coerced = _coerce(value, tp, path)
        except _Mismatch as exc:
            # YAML turns `off`, `no`, `2024` into bool/int; a str-typed field wants the text.
            if raw is None or isinstance(value, str):
                raise
            try:
                coerced = _coerce(raw.strip(), tp, path)
            except SettingsError:
                raise exc from None
        node[last] = _plain(coerced)
    return from_dict(type(config), data)


def replace_path(config: C, path: str, value: Any) -> C:
    """A copy of `config` with the field at dotted `path` set, type-checked and validated.

    A mapping given for a nested config updates only the keys it names.
    """
    return replace_paths(config, [(path, value, None)])


def parse_overrides(overrides: Iterable[str]) -> list[tuple[str, Any, str]]:
    """`KEY=VALUE` strings as (path, value, raw text); values are YAML (`3`, `false`, `[1, 2]`)."""
    items = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(f"override {item!r}: expected KEY=VALUE, e.g. stage1.epochs=3")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw  # not YAML (e.g. `[oops`): only a str field can take it
        items.append((key, value, raw))
    return items


def apply_overrides(config: C, overrides: Iterable[str]) -> C:
    """Apply `KEY=VALUE` strings in order (later wins); values are YAML (`3`, `false`, `[1, 2]`)."""
    return replace_paths(config, parse_overrides(overrides))


def _read_yaml(path: Path) -> Any:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read config file ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    return {} if data is None else data


def load_layers(
    cls: type[C],
    preset: str | None = None,
    path: str | Path | None = None,
    *,
    base: C | None = None,
) -> C:
    """`base` (default: the defaults), then the named preset, then the config file: later keys
    win, nested ones too. A resumed run passes its stored settings as `base`."""
    data: dict[str, Any] = {} if base is None else to_dict(base)
    where = [] if base is None else [f"stored {cls.__name__}"]
    if preset is not None:
        from segnas.presets import preset_data

        data = _merge(data, preset_data(preset))
        where.append(f"preset {preset!r}")
    if path is not None:
        layer = _read_yaml(Path(path))
        data = _merge(data, layer) if isinstance(layer, Mapping) else layer
        where.append(str(path))
    try:
        return from_dict(cls, data)
    except SettingsError as exc:
        raise SettingsError(f"{' + '.join(where) or cls.__name__}: {exc}") from exc
