"""The package's layers: no module imports from a layer above its own.

data < space, baselines < train, tasks < search < final, report < experiment, auto, dashboard
< cli; the top-level modules (genotype, settings, run directories, devices, encoders, weights,
presets) sit below them all.
Lazy imports inside functions count too: a layer that needs a higher one is a design error.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import segnas

PACKAGE = Path(segnas.__file__).parent
LAYERS = {
    "data": 1,
    "space": 2,
    "baselines": 2,
    "train": 3,
    "tasks": 3,
    "search": 4,
    "final": 5,
    "report": 5,
    "experiment": 6,
    "dashboard": 6,
    "cli": 7,
    "auto": 6,
}


def layer_of(module: str) -> tuple[str, int]:
    """(layer name, rank) of a dotted module name inside segnas; top-level modules rank 0."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "core"
    return name, LAYERS.get(name, 0)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `segnas...` import in a file, module-level or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] == "segnas"]
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_layer_of_names_the_package_layers():
    assert layer_of("segnas.genotype") == ("core", 0)
    assert layer_of("segnas.data") == ("data", 1)
    assert layer_of("segnas.data.builtin.scene") == ("data", 1)
    assert layer_of("segnas.cli.main") == ("cli", 7)
    assert layer_of("segnas.search.store")[1] > layer_of("segnas.train.fit")[1]


def test_the_sources_are_found():
    assert len(SOURCES) > 50


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_module_imports_from_a_layer_above(path: Path):
    here, rank = layer_of(module_name(path))
    upward = [
        f"line {line}: {name} ({layer_of(name)[0]} is above {here})"
        for line, name in imported_modules(path)
        if layer_of(name)[1] > rank
    ]
    assert not upward, f"{path.relative_to(PACKAGE)} imports upward:\n" + "\n".join(upward)
