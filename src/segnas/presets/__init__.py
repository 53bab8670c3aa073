"""Named settings files shipped with segnas: `--preset NAME` starts from one of them.

A preset is a partial `SearchSettings` in YAML; the keys it leaves out keep their defaults, and
`--config FILE` and `--set KEY=VALUE` apply on top of it, in that order. Each file's header
says what it is for and how far its rewards can be trusted.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from segnas.settings_io import SettingsError


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    folder = resources.files(__name__)
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def preset_text(name: str) -> str:
    """The preset file as written (comments included)."""
    if name not in preset_names():
        known = ", ".join(preset_names())
        raise SettingsError(f"preset {name!r}: unknown; shipped presets: {known}")
    return resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def preset_data(name: str) -> dict[str, Any]:
    """The preset's settings as nested plain data, ready to be merged under a config file."""
    data = yaml.safe_load(preset_text(name))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"preset {name!r}: expected a mapping of settings")
    return data
