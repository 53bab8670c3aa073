"""`benchmarks/search_throughput.py --quick` measures every configuration on the same designs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "search_throughput.py"


@pytest.mark.slow  # six fresh processes (three with a busy process beside them), each training
def test_quick_run_prints_a_row_per_configuration_and_load() -> None:
    command = [sys.executable, str(SCRIPT), "--quick", "--designs", "2", "--presets", "proxy"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^proxy\s+(.+?)\s+(quiet|busy)\s+(\d+)\s+([\d.]+)x", done.stdout, re.M)
    assert len(rows) == 6, done.stdout
    assert [load for *_, load, _, _ in rows] == ["quiet", "busy"] * 3
    assert all(int(rate) > 0 for _, _, rate, _ in rows)
    assert [float(ratio) for _, load, _, ratio in rows][:2] == [1.0, 1.0]  # before vs itself
