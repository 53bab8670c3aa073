"""`benchmarks/candidate_cost.py --quick` runs both sides and they train the same network."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "candidate_cost.py"


@pytest.mark.slow  # two fresh processes, each importing torch and training a candidate
def test_quick_run_reports_speed_up_and_matching_rewards() -> None:
    command = [sys.executable, str(SCRIPT), "--quick", "--designs", "arch2", "--threads", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    runs = re.findall(r"^run 1 arch2\s+(plain|segnas)\s+([\d.]+) s$", out, re.MULTILINE)
    assert sorted(side for side, _ in runs) == ["plain", "segnas"]
    assert all(float(seconds) > 0 for _, seconds in runs)
    speed_up = re.search(r"^arch2: segnas ([\d.]+)x as fast as plain", out, re.MULTILINE)
    assert speed_up is not None and float(speed_up.group(1)) > 0, out
    # --quick trains stage 1 for one step: same initial weights, same batch and the same loss
    # on both sides, so its loss agrees to rounding; later steps drift apart by rounding only.
    losses = re.search(r"last-epoch loss: segnas ([\d.]+), plain ([\d.]+)$", out, re.MULTILINE)
    assert losses is not None, out
    assert float(losses.group(1)) == pytest.approx(float(losses.group(2)), rel=1e-5)
    rewards = re.search(r"reward: segnas ([\d.]+) .*, plain ([\d.]+) ", out)
    assert rewards is not None, out
    assert float(rewards.group(1)) == pytest.approx(float(rewards.group(2)), abs=0.01)
    assert float(rewards.group(1)) > 0
