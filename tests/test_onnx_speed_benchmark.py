"""`benchmarks/onnx_speed.py`: the same designs every run, passes interleaved, one row each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import onnx_speed as script
from segnas.genotype import KNOWN_DESIGNS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "onnx_speed.py"


def test_designs_are_the_known_ones_then_seeded_random_ones() -> None:
    chosen = script.designs(4, 0, ["arch0", "arch1", "arch2"])
    assert list(chosen) == ["arch0", "arch1", "arch2"] + [f"random-{i}" for i in range(4)]
    assert [chosen[n] for n in KNOWN_DESIGNS] == list(KNOWN_DESIGNS.values())
    assert chosen == script.designs(4, 0, ["arch0", "arch1", "arch2"]), "seeded"
    assert len(set(chosen.values())) == 7


def test_passes_are_interleaved_and_the_row_shows_means_and_ratios() -> None:
    order: list[str] = []
    subjects = {name: (lambda name=name: order.append(name)) for name in script.SUBJECTS}
    times = script.interleaved_ms(subjects, runs=3, warmup=1)
    assert order == list(script.SUBJECTS) * 4  # one warm-up round, then three timed ones
    assert all(len(t) == 3 for t in times.values())
    fixed = {"torch": [20.0, 20.0], "onnx plain": [30.0, 30.0], "onnx": [10.0, 10.0]}
    fixed["onnx+sub-grids"] = [12.0, 14.0]
    row = script.table_row("arch0", fixed)
    assert row.startswith("arch0         20.0 (  20.0)    30.0 (  30.0)    10.0 (  10.0)")
    assert row.endswith("2.00x      3.00x") and "13.0 (  13.0)" in row


@pytest.mark.slow  # three exports through the torch.export-based ONNX exporter, 1-3 min
def test_tiny_run_prints_a_row_per_design_with_exact_files() -> None:
    command = [sys.executable, str(SCRIPT), "--size", "64", "--runs", "2", "--warmup", "0"]
    command += ["--designs", "arch1", "--random", "0", "--channels", "8", "--repeats", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "2 threads (OpenMP waiting" in done.stdout
    (row,) = re.findall(r"^arch1 .*$", done.stdout, re.MULTILINE)
    means = [float(m) for m in re.findall(r"([\d.]+) \(", row)]
    assert len(means) == 4 and all(m > 0 for m in means)
    error = float(re.search(r"max logit error ([\d.e+-]+)", row).group(1))
    assert error < 1e-3
