"""`segnas experiment ablation`: the setups, resumable scores, the report, and the command.

The unit tests score with stand-in evaluators (instant and deterministic); the end-to-end test
trains real candidates through `segnas.cli.main` on a tiny built-in dataset with a tiny default
teacher (16 channels, one epoch), so all four setups, distillation included, really run.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import torch

from segnas.cli import main
from segnas.experiment.ablation_report import summarize, write_report
from segnas.experiment.ablation_scores import ScoreTable, SetupJob, score_setups
from segnas.experiment.ablation_setups import (
    SETUPS,
    check_components,
    parse_setups,
    setup_settings,
)
from segnas.experiment.reward_noise import random_designs
from segnas.search.loop import LocalExecutor
from segnas.search.settings import SearchSettings
from segnas.space.builder import DecoderSettings
from segnas.train.result import CandidateResult
from segnas.train.settings import CandidateSettings
from tests.fixtures.kills import Killed, dies_on_call

# --------------------------------------------------------------------------- setups


def test_each_setup_adds_one_component_to_the_full_methods_settings() -> None:
    base = CandidateSettings(aux_weight=0.2, polyak_warmup=False)
    baseline = setup_settings(base, "baseline")
    assert (baseline.polyak, baseline.distill) == (False, False)
    assert baseline.decoder.aux_mode == "none" and baseline.aux_weight == 0.0
    polyak = setup_settings(base, "polyak")
    assert (polyak.polyak, polyak.distill, polyak.decoder.aux_mode) == (True, False, "none")
    aux = setup_settings(base, "polyak+aux")
    assert (aux.polyak, aux.distill, aux.decoder, aux.aux_weight) == (
        True,
        False,
        base.decoder,
        0.2,
    )
    assert setup_settings(base, "polyak+aux+distill") == base  # the full method
    for setup in SETUPS:  # all else shared
        derived = setup_settings(base, setup)
        assert (derived.stage1, derived.stage2, derived.polyak_warmup) == (
            base.stage1,
            base.stage2,
            False,
        )


def test_setup_names_are_checked_and_kept_in_the_papers_order() -> None:
    assert parse_setups("polyak+aux, baseline") == ["baseline", "polyak+aux"]
    for bad, message in (("baseline,kd", "kd"), ("polyak,polyak", "twice"), ("", "none given")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse_setups(bad)


def test_settings_that_disable_a_requested_component_are_refused() -> None:
    no_teacher = SearchSettings(teacher="none")
    check_components(no_teacher, ["baseline", "polyak", "polyak+aux"])  # no distill: fine
    with pytest.raises(ValueError, match="teacher: got 'none'"):
        check_components(no_teacher, list(SETUPS))
    no_aux = SearchSettings(evaluation=CandidateSettings(decoder=DecoderSettings(aux_mode="none")))
    check_components(no_aux, ["baseline", "polyak"])
    with pytest.raises(ValueError, match="evaluation.decoder.aux_mode: got 'none'"):
        check_components(no_aux, ["polyak", "polyak+aux"])
    with pytest.raises(ValueError, match="evaluation.polyak: got false"):
        check_components(SearchSettings(evaluation=CandidateSettings(polyak=False)), ["polyak"])


# --------------------------------------------------------------------------- scores


class FakeEvaluator:
    """Rewards from the design and the setup, no training: the same job, the same rewards."""

    def __init__(self, fail: tuple[str, str] | None = None) -> None:
        self.fail = fail
        self.calls: list[str] = []

    def __call__(self, job: SetupJob, rule) -> CandidateResult:
        assert rule is None  # no early termination in the ablation
        self.calls.append(str(job))
        if (job.setup, str(job.design)) == self.fail:
            return CandidateResult(str(job), failure="RuntimeError: boom")
        base, bonus = (job.design.first_op + 1) / 20, SETUPS.index(job.setup) / 100
        return CandidateResult(
            str(job),
            status="done",
            stage1_reward=base + bonus,
            stage2_reward=base + 2 * bonus,
            seconds={"stage1": 0.5, "stage2": 0.25},
        )


def _score(path: Path, designs, setups, evaluator) -> list:
    records: list = []
    table = ScoreTable(path)
    score_setups(table, designs, setups, evaluator, LocalExecutor(), lambda *a: records.append(a))
    return records


def test_a_killed_scoring_resumes_with_only_the_missing_candidates(tmp_path: Path) -> None:
    designs = random_designs(3)
    setups = ["baseline", "polyak"]
    full = tmp_path / "uninterrupted.json"
    _score(full, designs, setups, FakeEvaluator())

    path = tmp_path / "scores.json"
    with pytest.raises(Killed):  # killed while training the 4th candidate
        _score(path, designs, setups, dies_on_call(FakeEvaluator(), 4))
    recorded = ScoreTable(path).records
    assert list(recorded) == [  # design by design: the first design's pair is complete
        f"baseline|{designs[0]}",
        f"polyak|{designs[0]}",
        f"baseline|{designs[1]}",
    ]

    counted = FakeEvaluator()
    again = _score(path, designs, setups, counted)
    missing = [f"polyak {designs[1]}", f"baseline {designs[2]}", f"polyak {designs[2]}"]
    assert counted.calls == missing  # only those not recorded were trained
    assert [f"{setup} {design}" for setup, design, _ in again] == missing
    assert ScoreTable(path).records == ScoreTable(full).records
    _score(path, designs, setups, counted)  # all recorded: nothing trains
    assert len(counted.calls) == 3


def test_failed_candidates_are_recorded_and_left_out_of_the_statistics(tmp_path: Path) -> None:
    designs = random_designs(4)
    table = ScoreTable(tmp_path / "scores.json")
    evaluator = FakeEvaluator(fail=("polyak", str(designs[1])))
    score_setups(table, designs, SETUPS, evaluator, LocalExecutor())
    record = table.get("polyak", designs[1])
    assert record["status"] == "failed" and record["failure"] == "RuntimeError: boom"
    assert record["stage1_reward"] is None and record["seconds"] == 0.0
    assert table.get("baseline", designs[0])["seconds"] == 0.75
    records = {s: [table.get(s, d) for d in designs] for s in SETUPS}
    summary = summarize(records)
    assert summary["counts"]["polyak"] == {"done": 3, "failed": 1, "missing": 0}
    stage2 = summary["stages"]["stage2"]
    assert stage2["setups"]["polyak"]["n"] == 3 and stage2["setups"]["baseline"]["n"] == 4
    first, second, third = stage2["steps"]
    assert (first["n"], second["n"], third["n"]) == (3, 3, 4)
    assert third["mean_diff"] == pytest.approx(0.02) and third["share_improved"] == 1.0


def test_the_report_has_tables_readings_figures_and_failures(tmp_path: Path) -> None:
    designs = random_designs(6)
    table = ScoreTable(tmp_path / "scores.json")
    score_setups(
        table, designs, SETUPS, FakeEvaluator(("baseline", str(designs[0]))), LocalExecutor()
    )
    records = {s: [table.get(s, d) for d in designs] for s in SETUPS}
    records["polyak+aux+distill"][-1] = None  # not run yet
    path = write_report(
        tmp_path,
        records,
        command="segnas experiment ablation --designs 6",
        about=["Six designs."],
        extra={"designs": [str(d) for d in designs]},
        failures=["baseline, design 1: RuntimeError: boom"],
    )
    text = path.read_text()
    assert "segnas experiment ablation --designs 6" in text and "Six designs." in text
    assert "## Stage-1 rewards" in text and "## Stage-2 rewards" in text
    assert "| baseline | 5 | " in text  # setup, n, mean, median
    assert "| baseline | 5 | 1 | 0 |" in text  # scored, failed, not run yet
    assert "| polyak+aux+distill | 5 | 0 | 1 |" in text
    assert re.search(r"\| baseline → polyak \| 5 \| \+0\.010 \[\+0\.010, \+0\.010\] ", text)
    assert "| polyak+aux → polyak+aux+distill | 5 |" in text
    readings = re.findall(r"raises the stage-2 reward distribution: (yes|no) \(p=([\d.]+)\)", text)
    assert len(readings) == 3
    for answer, p in readings:  # every step is up here: the reading follows p
        assert answer == ("yes" if float(p) < 0.05 else "no")
    assert "RuntimeError: boom" in text
    data = json.loads((tmp_path / "ablation.json").read_text())
    assert data["designs"] == [str(d) for d in designs]
    assert (
        len(data["records"]["baseline"]) == 6 and data["records"]["polyak+aux+distill"][-1] is None
    )
    for stage in ("stage1", "stage2"):
        assert (tmp_path / f"ablation_{stage}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- the command

DATA = "builtin:seed=0,size=64,train=24,val=8"
TINY = [
    "evaluation.stage1.epochs=1",
    "evaluation.stage1.batch_size=8",
    "evaluation.stage2.batch_size=8",
    "train_count=16",
    "val_count=8",
    "val_fraction=0.25",
    "teacher_settings.channels=16",
    "teacher_settings.repeats=1",
    "teacher_settings.fit.epochs=1",
    "teacher_settings.fit.batch_size=8",
    "threads_per_worker=1",
]


@pytest.fixture
def one_thread():
    """Torch on this thread only: in pytest, torch's pool threads may exist before `main` flushes
    denormals, and training on them then runs up to 50x slower (the teacher: 41 s against 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ablation(exp_dir: Path, *extra: str) -> int:
    sets = [arg for item in TINY for arg in ("--set", item)]
    argv = ["experiment", "ablation", "--data", DATA, "--designs", "2", "--device", "cpu"]
    return main([*argv, "--workers", "1", "--exp-dir", str(exp_dir), *sets, *extra])


@pytest.mark.slow  # make test: the retrain experiments' kill test drives the same runner
def test_ablation_end_to_end_killed_and_resumed(
    fresh_segnas_cache, one_thread, tmp_path, monkeypatch, capsys
) -> None:
    import segnas.search.run as search_run

    real = search_run.evaluate_candidate
    exp_dir = tmp_path / "ablation"

    # 1. Killed while training its fourth candidate: three are recorded.
    monkeypatch.setattr(search_run, "evaluate_candidate", dies_on_call(real, 4))
    with pytest.raises(Killed):
        _ablation(exp_dir)
    assert len(ScoreTable(exp_dir / "scores.json").records) == 3

    # 2. The rerun trains only the five missing candidates, then reports.
    calls = []

    def counted(genotype, settings, data, **kwargs):
        assert kwargs.get("should_continue") is None  # both stages, always
        calls.append((settings.polyak, settings.decoder.aux_mode, settings.distill))
        return real(genotype, settings, data, **kwargs)

    monkeypatch.setattr(search_run, "evaluate_candidate", counted)
    assert _ablation(exp_dir) == 0
    out = capsys.readouterr().out
    assert len(calls) == 5
    assert calls[-1] == (True, "cell", True)  # the full method ran last
    assert "polyak+aux+distill design 2/2: stage-1 " in out  # one line per candidate
    for name in ("config.yaml", "scores.json", "ablation.json", "experiment.md"):
        assert (exp_dir / name).is_file(), name
    for stage in ("stage1", "stage2"):
        assert (exp_dir / f"ablation_{stage}.png").stat().st_size > 0

    data = json.loads((exp_dir / "ablation.json").read_text())
    assert data["setups"] == list(SETUPS) and len(data["designs"]) == 2
    for setup in SETUPS:
        records = data["records"][setup]
        assert len(records) == 2
        for r in records:
            assert r["status"] == "done", r
            assert 0.0 <= r["stage1_reward"] <= 1.0 and 0.0 <= r["stage2_reward"] <= 1.0
    text = (exp_dir / "experiment.md").read_text()
    for heading in ("## Stage-1 rewards", "## Stage-2 rewards", "| setup | n | mean | median |"):
        assert heading in text
    assert text.count("| baseline → polyak | 2 |") == 2
    assert "polyak+aux+distill over polyak+aux raises the stage-2 reward distribution:" in text

    # 3. Everything recorded: a rerun trains nothing; other base settings are refused.
    assert _ablation(exp_dir) == 0 and len(calls) == 5
    assert _ablation(exp_dir, "--set", "evaluation.stage1.epochs=2") == 2
    err = capsys.readouterr().err
    assert "evaluation.stage1.epochs: experiment has 1, now 2" in err
    assert len(calls) == 5
