"""The report of `segnas experiment aux`: best setup per design, summary, and the files written.

Pure: hand-made records stand in for trained candidates.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from segnas.experiment import ablation_stats
from segnas.experiment.aux_report import best_setup, summarize_aux, write_aux_report
from segnas.experiment.aux_study import AUX_SETUPS

PNG = b"\x89PNG\r\n\x1a\n"


def done(miou: float, reward: float | None = None, seconds: float = 1.5) -> dict:
    reward = miou + 0.05 if reward is None else reward
    return {
        "status": "done",
        "stage1_reward": reward - 0.1,
        "stage2_reward": reward,
        "metrics": {"mean_iou": miou, "pixel_accuracy": 0.9},
        "failure": None,
        "seconds": seconds,
    }


def failed(why: str = "RuntimeError: boom") -> dict:
    return {
        "status": "failed",
        "stage1_reward": None,
        "stage2_reward": None,
        "metrics": None,
        "failure": why,
        "seconds": 0.2,
    }


def rows(n: int) -> list[dict]:
    return [{"id": 3 * i + 1, "genotype": f"g{i}", "reward": 0.9 - 0.1 * i} for i in range(n)]


def records_of(table: list[tuple[float | None, float | None, float | None]]) -> dict:
    """Per setup (cells, plain, none) one record per design from a design x setup table of
    mIoU (None: failed)."""
    return {
        setup: [failed() if row[j] is None else done(row[j]) for row in table]
        for j, setup in enumerate(AUX_SETUPS)
    }


# cells ahead of both others for 5 of 6 designs
CELLS_WIN = [
    (0.52, 0.48, 0.45),
    (0.61, 0.55, 0.50),
    (0.40, 0.39, 0.30),
    (0.47, 0.45, 0.46),
    (0.58, 0.50, 0.51),
    (0.35, 0.41, 0.33),
]
# cells ahead of both only for 2 of 6 (plain best for the rest)
CELLS_LOSE = [
    (0.52, 0.48, 0.45),
    (0.50, 0.55, 0.49),
    (0.40, 0.44, 0.30),
    (0.47, 0.45, 0.46),
    (0.45, 0.50, 0.51),
    (0.35, 0.41, 0.33),
]


# --------------------------------------------------------------------------- best setup


def test_best_setup_names_the_single_winner() -> None:
    assert best_setup({"cells": 0.5, "plain": 0.4, "none": 0.3}) == "cells"
    assert best_setup({"cells": 0.2, "plain": 0.4, "none": 0.3}) == "plain"
    assert best_setup({"cells": 0.2, "plain": 0.1, "none": 0.3}) == "none"


def test_best_setup_is_tie_when_the_top_is_shared() -> None:
    assert best_setup({"cells": 0.5, "plain": 0.5, "none": 0.3}) == "tie"
    assert best_setup({"cells": 0.5, "plain": 0.5, "none": 0.5}) == "tie"
    assert best_setup({"cells": 0.3, "plain": 0.5, "none": 0.5}) == "tie"


def test_best_setup_is_none_when_any_setup_has_no_figure() -> None:
    assert best_setup({"cells": 0.9, "plain": None, "none": 0.3}) is None
    assert best_setup({"cells": None, "plain": None, "none": None}) is None
    assert best_setup({}) is None


# --------------------------------------------------------------------------- summary


def test_summary_per_design_values_rewards_and_best() -> None:
    table = CELLS_WIN
    summary = summarize_aux(rows(6), records_of(table), "mean_iou")
    assert summary["metric"] == "mean_iou"
    assert len(summary["designs"]) == 6
    for row, d, figures in zip(rows(6), summary["designs"], table):
        assert (d["id"], d["genotype"], d["search_reward"]) == (
            row["id"],
            row["genotype"],
            row["reward"],
        )
        assert d["values"] == dict(zip(AUX_SETUPS, figures))
        assert d["rewards"] == pytest.approx({s: v + 0.05 for s, v in zip(AUX_SETUPS, figures)})
    assert [d["best"] for d in summary["designs"]] == [
        "cells",
        "cells",
        "cells",
        "cells",
        "cells",
        "plain",
    ]
    assert summary["best_counts"] == {"cells": 5, "plain": 1, "none": 0, "tie": 0}
    assert summary["decided"] == 6
    for j, setup in enumerate(AUX_SETUPS):
        assert summary["setups"][setup] == ablation_stats.describe([r[j] for r in table])


def test_summary_comparisons_equal_the_ablations_paired_statistics() -> None:
    table = CELLS_WIN
    summary = summarize_aux(rows(6), records_of(table), "mean_iou")
    cells = [r[0] for r in table]
    assert [(c["before"], c["after"]) for c in summary["comparisons"]] == [
        ("plain", "cells"),
        ("none", "cells"),
    ]
    for c, j in zip(summary["comparisons"], (1, 2)):
        expected = ablation_stats.compare([r[j] for r in table], cells)
        assert {k: c[k] for k in expected} == expected
    none = summary["comparisons"][1]
    assert none["n"] == 6 and none["share_improved"] == 1.0 and none["mean_diff"] > 0


def test_a_failed_record_is_left_out() -> None:
    table = [*CELLS_WIN[:5], (0.35, None, 0.33)]  # the last design's plain candidate failed
    summary = summarize_aux(rows(6), records_of(table), "mean_iou")
    last = summary["designs"][-1]
    assert last["values"] == {"cells": 0.35, "plain": None, "none": 0.33}
    assert last["rewards"]["plain"] is None and last["best"] is None
    assert summary["decided"] == 5
    assert summary["best_counts"] == {"cells": 5, "plain": 0, "none": 0, "tie": 0}
    assert summary["setups"]["plain"]["n"] == 5 and summary["setups"]["cells"]["n"] == 6
    plain, none = summary["comparisons"]
    assert plain["n"] == 5 and none["n"] == 6
    assert plain == {
        "before": "plain",
        "after": "cells",
        **ablation_stats.compare([r[1] for r in table], [r[0] for r in table]),
    }


def test_a_record_not_run_yet_counts_as_missing() -> None:
    records = records_of(CELLS_WIN[:2])
    records["none"][1] = None
    summary = summarize_aux(rows(2), records, "mean_iou")
    assert summary["designs"][1]["values"]["none"] is None
    assert summary["designs"][1]["best"] is None and summary["decided"] == 1


def test_a_tie_is_counted_as_a_tie() -> None:
    summary = summarize_aux(rows(2), records_of([(0.5, 0.5, 0.4), (0.6, 0.5, 0.4)]), "mean_iou")
    assert [d["best"] for d in summary["designs"]] == ["tie", "cells"]
    assert summary["best_counts"] == {"cells": 1, "plain": 0, "none": 0, "tie": 1}


# --------------------------------------------------------------------------- files


def _write(exp_dir: Path, table, failures=()) -> Path:
    exp_dir.mkdir(parents=True, exist_ok=True)
    return write_aux_report(
        exp_dir,
        rows(len(table)),
        records_of(table),
        metric=("mean_iou", "mIoU"),
        command="segnas experiment aux --from runs/x --top 6",
        about=["Six designs, hand-made."],
        extra={"source": "runs/x", "seed": 123, "metric": "mean_iou"},
        failures=list(failures),
    )


def _no_nan(value) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for v in value.values():
            _no_nan(v)
    elif isinstance(value, list):
        for v in value:
            _no_nan(v)


def test_the_report_files_when_cells_win_for_most_designs(tmp_path: Path) -> None:
    path = _write(tmp_path, CELLS_WIN)
    assert path == tmp_path / "experiment.md"
    text = path.read_text()
    assert "segnas experiment aux --from runs/x --top 6" in text and "Six designs" in text
    assert "Auxiliary cells beat plain and none for most designs: yes (5 of 6 designs" in text
    assert "| #1 | 0.9000 | 0.5200 | 0.4800 | 0.4500 | cells |" in text
    assert "| cells | 6 | " in text and "| 5 of 6 |" in text
    assert "| plain → cells | 6 |" in text and "| none → cells | 6 |" in text
    answers = re.findall(r"cells raises mIoU over (plain|none) .*?: (yes|no) \(p=([\d.e-]+)", text)
    assert [a[0] for a in answers] == ["plain", "none"]
    summary = json.loads((tmp_path / "aux.json").read_text())["summary"]
    for (_, answer, p), c in zip(answers, summary["comparisons"]):
        assert answer == ("yes" if c["raises"] else "no")
        assert float(p) == pytest.approx(c["p_value"], abs=6e-4)
        assert c["raises"] == (c["p_value"] < 0.05 and c["mean_diff"] > 0)
    # every design better with cells than with none: exact Wilcoxon p = 2 / 2**6
    assert answers[1] == ("none", "yes", "0.031")
    assert "![figure per design and setup](aux.png)" in text
    assert "## Failed candidates" not in text

    raw = (tmp_path / "aux.json").read_text()
    assert "NaN" not in raw and "Infinity" not in raw
    data = json.loads(raw)
    _no_nan(data)
    assert (data["source"], data["seed"], data["metric"]) == ("runs/x", 123, "mean_iou")
    assert list(data["records"]) == list(AUX_SETUPS)
    assert data["records"]["cells"][0]["metrics"]["mean_iou"] == 0.52
    assert len(data["summary"]["designs"]) == 6
    assert (tmp_path / "aux.png").read_bytes()[:8] == PNG


def test_the_report_reads_no_when_cells_do_not_win_for_most(tmp_path: Path) -> None:
    text = _write(tmp_path, CELLS_LOSE).read_text()
    assert "Auxiliary cells beat plain and none for most designs: no (2 of 6 designs" in text
    assert "best setup counts: cells 2, plain 3, none 1)" in text
    data = json.loads((tmp_path / "aux.json").read_text())
    assert data["summary"]["best_counts"] == {"cells": 2, "plain": 3, "none": 1, "tie": 0}
    plain = data["summary"]["comparisons"][0]
    assert plain["before"] == "plain" and plain["mean_diff"] < 0 and plain["raises"] is False
    assert re.search(r"cells raises mIoU over plain .*?: no \(p=", text)


def test_half_is_not_most(tmp_path: Path) -> None:
    table = [(0.6, 0.5, 0.4), (0.6, 0.5, 0.4), (0.4, 0.5, 0.4), (0.4, 0.5, 0.6)]
    text = _write(tmp_path, table).read_text()
    assert "for most designs: no (2 of 4 designs" in text


def test_failed_candidates_and_missing_figures_keep_the_json_valid(tmp_path: Path) -> None:
    table = [(0.5, None, 0.4), (None, None, None), (0.6, 0.5, 0.4)]
    text = _write(tmp_path, table, failures=["plain, #1 `g0`: RuntimeError: boom"]).read_text()
    assert "## Failed candidates" in text and "- plain, #1 `g0`: RuntimeError: boom" in text
    assert "| #4 | 0.8000 | - | - | - | - |" in text
    assert "for most designs: no (1 of 3 designs" in text
    raw = (tmp_path / "aux.json").read_text()
    assert "NaN" not in raw
    data = json.loads(raw)
    assert data["records"]["plain"][0]["status"] == "failed"
    assert data["summary"]["decided"] == 1
    assert (tmp_path / "aux.png").read_bytes()[:8] == PNG


def test_nothing_scored_yet_still_gives_a_figure(tmp_path: Path) -> None:
    records = {s: [None, None] for s in AUX_SETUPS}
    write_aux_report(
        tmp_path,
        rows(2),
        records,
        metric=("mean_iou", "mIoU"),
        command="c",
        about=[],
        extra={},
    )
    data = json.loads((tmp_path / "aux.json").read_text())
    assert data["summary"]["decided"] == 0
    assert all(c["n"] == 0 and c["p_value"] is None for c in data["summary"]["comparisons"])
    assert (tmp_path / "aux.png").read_bytes()[:8] == PNG
