"""The settings an experiment folder was started with, and the refusal to mix others in."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from segnas.run_dir import check_same
from segnas.search.settings import SearchSettings
from segnas.settings_io import load_yaml, to_dict


def check_experiment_base(
    path: Path, base: SearchSettings, ignore: Iterable[str], hint: str
) -> None:
    """Refuse `base` when the folder's stored settings (`path`) differ outside `ignore`:
    results made with other settings would not be comparable. No stored file: nothing to check."""
    if not path.is_file():
        return
    check_same(
        str(path.parent),
        to_dict(load_yaml(SearchSettings, path)),
        to_dict(base),
        ignore=tuple(ignore),
        holder="experiment",
        hint=hint,
    )
