"""The strategies experiment's report: curves, paired statistics, the target, and the files."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
from PIL import Image

from segnas.experiment.strategies_report import (
    RunRecord,
    best_so_far,
    summarize,
    write_strategies_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rows(rewards: list[float | None]) -> list[dict]:
    """Store-like rows; None is a failed candidate, rewards <= 0.3 stop after stage 1."""
    rows = []
    for index, reward in enumerate(rewards):
        if reward is None:
            status, stage1, stage2 = "failed", None, None
        elif reward <= 0.3:
            status, stage1, stage2 = "stopped-after-stage-1", reward, None
        else:
            status, stage1, stage2 = "done", reward - 0.05, reward
        rows.append(
            {
                "id": index,
                "genotype": f"g{index}",
                "status": status,
                "reward": reward,
                "stage1_reward": stage1,
                "stage2_reward": stage2,
                "params": 1000,
                "madds": 10**6,
                "seconds": {"stage1": 1.0},
            }
        )
    return rows


def _rescored(means: list[float], search_rewards: list[float] | None = None) -> list[dict]:
    search_rewards = search_rewards or [0.9 - 0.01 * i for i in range(len(means))]
    return [
        {"id": i, "genotype": f"g{i}", "search_reward": s, "rewards": [m, m], "mean": m}
        for i, (m, s) in enumerate(zip(means, search_rewards))
    ]


def _records(evolution_shift: float = 0.0) -> list[RunRecord]:
    """2 strategies x 3 seeds; `evolution_shift` moves evolution's re-scored means."""
    random = [
        RunRecord("random", 0, _rows([0.1, 0.3, 0.2, 0.4]), _rescored([0.30, 0.28, 0.26])),
        RunRecord("random", 1, _rows([0.5, 0.2, 0.3, 0.1]), _rescored([0.32, 0.30])),
        RunRecord("random", 2, _rows([0.2, 0.2, 0.3, 0.35]), _rescored([0.25])),
    ]
    s = evolution_shift
    evolution = [
        # six re-scored designs: the one the search ranked last has the best fresh mean, so it
        # counts for "best" but not for "top-5" (picked by search reward)
        RunRecord(
            "evolution",
            0,
            _rows([0.2, 0.45, 0.5, 0.6]),
            _rescored(
                [0.34 + s, 0.33 + s, 0.32 + s, 0.31 + s, 0.30 + s, 0.40 + s],
                [0.6, 0.5, 0.45, 0.4, 0.3, 0.2],
            ),
        ),
        RunRecord("evolution", 1, _rows([0.3, 0.4, 0.45, 0.48]), _rescored([0.35 + s, 0.33 + s])),
        RunRecord("evolution", 2, _rows([0.1, None, 0.35, 0.5]), _rescored([0.33 + s])),
    ]
    return evolution + random  # out of order on purpose


def test_best_so_far_counts_failures_as_zero_and_pads_with_the_last_value():
    rows = _rows([0.2, None, 0.5, 0.4])
    rows[1]["reward"] = 0.9  # a failed row's reward never counts, whatever the store holds
    rows.append({**rows[0], "id": 4, "status": "running", "reward": None})
    curve = best_so_far(rows, 7)
    assert curve.shape == (7,)
    np.testing.assert_allclose(curve, [0.2, 0.2, 0.5, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(best_so_far(rows, 2), [0.2, 0.2])
    np.testing.assert_allclose(best_so_far(_rows([None, 0.3]), 3), [0.0, 0.3, 0.3])
    np.testing.assert_allclose(best_so_far([], 3), [0.0, 0.0, 0.0])


def test_summarize_means_sds_and_paired_candidates_to_reach():
    summary = summarize(_records(), reference="random", default="evolution")
    assert list(summary["strategies"]) == ["evolution", "random"]
    assert summary["seeds"] == [0, 1, 2]
    assert summary["budget"] == 4

    evo, rnd = summary["strategies"]["evolution"], summary["strategies"]["random"]
    assert evo["seeds"] == [0, 1, 2]
    per_seed = {p["seed"]: p for p in evo["per_seed"]}
    assert per_seed[0]["best_rescored"] == pytest.approx(0.40)
    assert per_seed[0]["top5_rescored"] == pytest.approx(0.32)  # the 0.40 design ranked 6th
    assert per_seed[2]["best_search"] == pytest.approx(0.5)

    expected = {
        ("evolution", "best_rescored"): [0.40, 0.35, 0.33],
        ("evolution", "top5_rescored"): [0.32, 0.34, 0.33],
        ("evolution", "best_search"): [0.6, 0.48, 0.5],
        ("random", "best_rescored"): [0.30, 0.32, 0.25],
        ("random", "top5_rescored"): [0.28, 0.31, 0.25],
        ("random", "best_search"): [0.4, 0.5, 0.35],
    }
    for (name, key), values in expected.items():
        block = summary["strategies"][name][key]
        assert block["mean"] == pytest.approx(statistics.mean(values)), (name, key)
        assert block["sd"] == pytest.approx(statistics.stdev(values)), (name, key)
        assert block["n"] == 3
    assert rnd["top5_rescored"]["mean"] == pytest.approx(0.28)
    assert rnd["top5_rescored"]["sd"] == pytest.approx(0.03)
    assert evo["top5_rescored"]["sd"] == pytest.approx(0.01)

    # paired by seed against random's best of the same seed (0.4, 0.5, 0.35)
    assert [p["reference_best"] for p in evo["per_seed"]] == pytest.approx([0.4, 0.5, 0.35])
    assert [p["candidates_to_reach"] for p in evo["per_seed"]] == [2, None, 3]
    assert evo["reach_reference"] == {"reached": 2, "paired": 3, "median": 2.5}
    assert [p["candidates_to_reach"] for p in rnd["per_seed"]] == [4, 1, 4]
    assert rnd["reach_reference"] == {"reached": 3, "paired": 3, "median": 4.0}

    np.testing.assert_allclose(evo["mean_best_so_far"], [0.2, 0.95 / 3, 1.3 / 3, 1.58 / 3])


def test_target_met_when_the_margin_exceeds_the_reference_sd_and_the_curve_leads_early():
    target = summarize(_records(), reference="random", default="evolution")["target"]
    assert target["top5_margin"] == pytest.approx(0.05)
    assert target["reference_sd"] == pytest.approx(0.03)
    assert target["beats_by_sd"] is True
    # mean curves: evolution [.2, .317, .433, .527] against random [.267, .333, .367, .417]
    assert target["curve_above_from"] == 3
    assert target["curve_above_from_30"] is True


def test_target_not_met_when_the_margin_is_within_the_reference_sd():
    target = summarize(_records(-0.03), reference="random", default="evolution")["target"]
    assert target["top5_margin"] == pytest.approx(0.02)
    assert target["reference_sd"] == pytest.approx(0.03)
    assert target["beats_by_sd"] is False

    swapped = summarize(_records(), reference="evolution", default="random")["target"]
    assert swapped["top5_margin"] == pytest.approx(-0.05)
    assert swapped["reference_sd"] == pytest.approx(0.01)
    assert swapped["beats_by_sd"] is False
    assert swapped["curve_above_from"] is None
    assert swapped["curve_above_from_30"] is False

    assert summarize(_records(), reference="random")["target"] is None
    assert summarize(_records(), reference="random", default="random")["target"] is None


def test_curve_that_leads_only_late_misses_the_30_candidate_target():
    slow = [0.1] * 34 + [0.9] * 6  # overtakes at candidate 35
    fast = [0.5] * 40
    records = [
        RunRecord("ppo", 0, _rows(slow), _rescored([0.5])),
        RunRecord("random", 0, _rows(fast), _rescored([0.4])),
    ]
    summary = summarize(records, reference="random", default="ppo")
    assert summary["strategies"]["ppo"]["best_rescored"] == {"mean": 0.5, "sd": 0.0, "n": 1}
    assert summary["strategies"]["ppo"]["per_seed"][0]["candidates_to_reach"] == 35
    target = summary["target"]
    assert target["curve_above_from"] == 35
    assert target["curve_above_from_30"] is False
    assert target["beats_by_sd"] is True  # 0.1 > sd 0 of a single seed


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] > 100 and image.size[1] > 100
        image.verify()


def test_write_strategies_report_writes_markdown_figures_and_summary(tmp_path):
    command = "segnas experiment strategies --strategies evolution random --seeds 0 1 2"
    notes = "Hand-made runs.\n\n*Nothing* was trained."
    path = write_strategies_report(
        tmp_path / "exp",
        _records(),
        budget=4,
        command=command,
        reference="random",
        default="evolution",
        notes=notes,
    )
    exp = tmp_path / "exp"
    assert path == exp / "experiment.md"
    for name in ("experiment.md", "best_so_far.png", "reward_distributions.png", "summary.json"):
        assert (exp / name).is_file(), name
    _assert_png(exp / "best_so_far.png")
    _assert_png(exp / "reward_distributions.png")

    summary = json.loads((exp / "summary.json").read_text())
    assert summary == json.loads(
        json.dumps(summarize(_records(), reference="random", default="evolution", budget=4))
    )
    assert summary["target"]["beats_by_sd"] is True

    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert f"```\n{command}\n```" in text
    assert "Seeds: 0, 1, 2. Budget: 4 candidates per run." in text
    assert (
        "| strategy | seeds | best (re-scored) | top-5 (re-scored) "
        "| top-5 minus random's, same seed | best (search draw) "
        "| reached random's best | median candidates to reach it |"
    ) in text
    # Paired by seed: 0.32 - 0.28, 0.34 - 0.31, 0.33 - 0.25.
    assert (
        "| evolution | 3 | 0.360 ± 0.036 | 0.330 ± 0.010 | 0.050 ± 0.026 (above on 3/3) "
        "| 0.527 ± 0.064 | 2/3 | 2.5 |"
    ) in text
    assert "| random | 3 | 0.290 ± 0.036 | 0.280 ± 0.030 | - | 0.417 ± 0.076 | 3/3 | 4 |" in text
    assert (
        "evolution's mean top-5 beats random's by 0.050, more than random's seed-to-seed sd "
        "0.030: target met"
    ) in text
    assert "from candidate 3 on" in text
    assert "| evolution | 0 | 0.400 | 0.320 | 0.600 | 2 |" in text
    assert "| evolution | 1 | 0.350 | 0.340 | 0.480 | never |" in text
    assert "| random | 2 | 0.250 | 0.250 | 0.350 | 4 |" in text
    assert "![best reward so far](best_so_far.png)" in text
    assert "](reward_distributions.png)" in text
    assert text.rstrip().endswith(notes)


def test_report_says_not_met_in_words(tmp_path):
    path = write_strategies_report(
        tmp_path, _records(-0.03), budget=4, command="x", default="evolution"
    )
    text = path.read_text(encoding="utf-8")
    assert (
        "evolution's mean top-5 beats random's by 0.020, not more than random's seed-to-seed "
        "sd 0.030: target not met"
    ) in text
