"""`run_search` on resume: changed settings are refused unless overridden, then recorded; an
older config.yaml is filled from the defaults once; a failure before any work leaves nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from segnas.genotype import Genotype
from segnas.report.run_report import write_report
from segnas.run_dir import ResumeError, read_overrides
from segnas.search.loop import STRATEGY_STATS
from segnas.search.run import run_search
from segnas.search.settings import SearchSettings
from segnas.search.store import read_meta
from segnas.settings_io import load_yaml
from segnas.train.result import CandidateResult, ContinueRule

SETTINGS = SearchSettings(strategy="random", budget=3, rescore_top=0, workers=1)
"""One candidate at a time in this process: these tests are about settings, not workers."""


def fake(genotype: Genotype, rule: ContinueRule) -> CandidateResult:
    reward = genotype.first_op / 10
    return CandidateResult(str(genotype), "done", reward, reward, reward)


def search(run_dir: Path, settings=SETTINGS, **kw) -> tuple[dict, str]:
    console = Console(record=True, width=200)
    out = run_search(settings, run_dir, device="cpu", console=console, evaluator=fake, **kw)
    return out, console.export_text()


def test_changed_settings_are_refused_on_resume_naming_each_field(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    search(run_dir)
    before = (run_dir / "config.yaml").read_text()
    more = dataclasses.replace(SETTINGS, budget=5, train_count=10)
    with pytest.raises(ResumeError) as caught:
        search(run_dir, more, resume=True)
    text = str(caught.value)
    assert "budget: run has 3, now 5" in text and "train_count: run has 300, now 10" in text
    assert text.count("budget:") == 1 and "--override" in text
    assert (run_dir / "config.yaml").read_text() == before  # nothing changed
    assert not (run_dir / "overrides.jsonl").exists()


def test_override_uses_records_and_reports_the_new_settings(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    search(run_dir)
    more = dataclasses.replace(SETTINGS, budget=5)
    out, said = search(run_dir, more, resume=True, override=True)
    assert len(out["candidates"]) == 5  # the new budget was used, not the stored one
    assert "budget: run has 3, now 5" in said
    assert load_yaml(SearchSettings, run_dir / "config.yaml").budget == 5
    entries = read_overrides(run_dir)
    assert [e["changed"] for e in entries] == [["budget: run has 3, now 5"]]
    report = write_report(run_dir).read_text()
    assert "## Settings changed on resume" in report and "budget: run has 3, now 5" in report
    out, said = search(run_dir, more, resume=True)  # the same settings again: no override
    assert "run has" not in said and len(read_overrides(run_dir)) == 1


def test_an_older_config_is_filled_from_the_defaults_and_said_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    search(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    del config["max_consecutive_failures"], config["evolution"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    _, said = search(run_dir, resume=True)
    assert "older segnas" in said and "max_consecutive_failures" in said
    assert "evolution." in said
    assert "max_consecutive_failures" in yaml.safe_load((run_dir / "config.yaml").read_text())
    filled = read_overrides(run_dir)[0]["filled"]
    assert "max_consecutive_failures" in filled and entries_changed(run_dir) == [[]]
    _, said = search(run_dir, resume=True)
    assert "older segnas" not in said and len(read_overrides(run_dir)) == 1


def entries_changed(run_dir: Path) -> list[list[str]]:
    return [e["changed"] for e in read_overrides(run_dir)]


def test_refused_data_leaves_no_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "search"
    settings = dataclasses.replace(SETTINGS, data=f"folder:{tmp_path / 'nonexistent'}")
    with pytest.raises((ValueError, FileNotFoundError)):
        run_search(settings, run_dir, device="cpu", console=Console(quiet=True))
    assert not run_dir.exists()
    run_dir.mkdir(parents=True)
    (run_dir / "notes.txt").write_text("mine")
    with pytest.raises((ValueError, FileNotFoundError)):
        run_search(settings, run_dir, device="cpu", console=Console(quiet=True))
    assert [p.name for p in run_dir.iterdir()] == ["notes.txt"]


@pytest.mark.slow  # make test: test_main_job resumes a search through the CLI
def test_generation_defaults_to_the_workers_and_is_kept_for_the_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    settings = dataclasses.replace(SETTINGS, workers=2, budget=4)
    _, said = search(run_dir, settings)
    assert "2 workers x 1 thread, 4 per generation" in said
    assert load_yaml(SearchSettings, run_dir / "config.yaml").generation == 4
    stored = load_yaml(SearchSettings, run_dir / "config.yaml")
    more = dataclasses.replace(stored, budget=6, workers=1)  # fewer workers: no override needed
    out, said = search(run_dir, more, resume=True, override=True)
    assert "workers" not in said and "budget: run has 4, now 6" in said
    assert len(out["candidates"]) == 6
    assert load_yaml(SearchSettings, run_dir / "config.yaml").generation == 4


def test_workers_and_threads_may_change_on_resume_without_override(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    search(run_dir, dataclasses.replace(SETTINGS, generation=2))
    again = dataclasses.replace(SETTINGS, generation=2, workers=2, threads_per_worker=1)
    out, said = search(run_dir, again, resume=True)
    assert "run has" not in said and len(out["candidates"]) == 3


def test_strategy_statistics_are_kept_per_generation_across_a_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    search(run_dir)
    first = read_meta(run_dir / "search.sqlite")[STRATEGY_STATS]
    assert [(g["first"], g["count"], g["observed"]) for g in first] == [
        (0, 1, 1),
        (1, 1, 2),
        (2, 1, 3),
    ]
    search(run_dir, dataclasses.replace(SETTINGS, budget=5), resume=True, override=True)
    stats = read_meta(run_dir / "search.sqlite")[STRATEGY_STATS]
    assert stats[:3] == first  # kept, not rewritten
    assert [g["first"] for g in stats] == [0, 1, 2, 3, 4]
    assert [g["observed"] for g in stats] == [1, 2, 3, 4, 5]
    assert all(g["mean_entropy"] > 0 and g["at"] >= first[-1]["at"] for g in stats[3:])
