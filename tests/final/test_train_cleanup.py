"""Final training that fails before its first epoch leaves no run directory behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rich.console import Console

from segnas.data import open_dataset
from segnas.final.arch_ref import resolve_arch
from segnas.final.recipe import FinalTrainSettings
from segnas.final.train import FinalInputs, train_final_run

SPEC = "builtin:size=32,train=16,val=8"


def test_a_refused_training_set_leaves_nothing(builtin_cache: Path, tmp_path: Path) -> None:
    train, val = (
        open_dataset(SPEC, split=s, cache_dir=builtin_cache / "builtin") for s in ("train", "val")
    )
    inputs = FinalInputs(resolve_arch("arch0"), train, val, SPEC, encoder_weights="none")
    settings = FinalTrainSettings(batch_size=32, crop_size=32, val_crop_size=32)
    run_dir = tmp_path / "runs" / "train"
    quiet = Console(quiet=True)
    with pytest.raises(ValueError, match="fewer than batch_size 32"):
        train_final_run(inputs, settings, run_dir, torch.device("cpu"), console=quiet)
    assert not run_dir.exists()
    run_dir.mkdir(parents=True)
    (run_dir / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="fewer than batch_size 32"):
        train_final_run(inputs, settings, run_dir, torch.device("cpu"), console=quiet)
    assert [p.name for p in run_dir.iterdir()] == ["notes.txt"]
