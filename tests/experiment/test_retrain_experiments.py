"""`segnas experiment aux` and `segnas experiment correlation` end to end through the CLI.

The source is a fake search run (`retrain_fixtures`: tiny settings, a store with chosen
rewards), so which designs are the top ones and which band each is in is known; the designs are
really trained (16 images, one epoch a stage: about a second each) on the built-in data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from segnas.cli import main
from segnas.experiment.ablation_scores import ScoreTable
from segnas.experiment.aux_study import AUX_SETUPS
from segnas.experiment.correlation_bands import sample_bands
from segnas.experiment.source_run import load_source, longer_seed
from segnas.search.settings import SearchSettings
from segnas.settings_io import load_yaml
from tests.experiment.retrain_fixtures import SPECS, make_source_run
from tests.fixtures.kills import Killed, dies_on_call


@pytest.fixture
def one_thread():
    """Torch on this thread only (see test_ablation: pool threads made before `main` flushes
    denormals train far slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    run = tmp_path / "search"
    make_source_run(run)
    return run


@pytest.fixture
def counted(monkeypatch):
    """Every candidate trained, as (settings, seed), through the real training."""
    import segnas.search.run as search_run

    real = search_run.evaluate_candidate
    calls: list = []

    def wrapper(genotype, settings, data, **kwargs):
        assert kwargs.get("should_continue") is None  # both stages, always
        calls.append((str(genotype), settings, kwargs.get("seed")))
        return real(genotype, settings, data, **kwargs)

    monkeypatch.setattr(search_run, "evaluate_candidate", wrapper)
    return calls


def _run(kind: str, source: Path, exp_dir: Path, *extra: str) -> int:
    argv = ["experiment", kind, "--from", str(source), "--device", "cpu", "--workers", "1"]
    return main([*argv, "--exp-dir", str(exp_dir), *extra])


def _out(capsys) -> str:
    """What the command printed, rich's line wrapping undone."""
    return " ".join(capsys.readouterr().out.split())


def _snapshot(run: Path) -> dict[str, bytes]:
    """The run's settings and store (SQLite may add its WAL side files when reading)."""
    return {name: (run / name).read_bytes() for name in ("config.yaml", "search.sqlite")}


# --------------------------------------------------------------------------- aux


@pytest.mark.slow  # make test: the kill-and-resume test below runs aux end to end
def test_aux_trains_the_top_designs_under_three_setups(
    fresh_segnas_cache, one_thread, source, counted, tmp_path, capsys
) -> None:
    before = _snapshot(source)
    scored = load_source(source).scored()
    assert [r["id"] for r in scored[:2]] == [2, 6]  # the two best rewards of SPECS
    exp_dir = tmp_path / "aux"

    assert _run("aux", source, exp_dir, "--top", "2", "--epochs", "2") == 0
    assert "6 to train" in _out(capsys)
    assert _snapshot(source) == before  # the search run is only read

    # 2 designs x 3 setups, each trained once, with the experiment's settings and seed
    assert len(counted) == 6
    seed = longer_seed(0)
    for genotype, settings, run_seed in counted:
        assert genotype in {scored[0]["genotype"], scored[1]["genotype"]}
        assert run_seed == seed
        assert (settings.polyak, settings.distill) == (False, False)
        assert (settings.stage1.epochs, settings.stage2.epochs) == (1, 2)
    modes = [(s.decoder.aux_mode, s.aux_weight) for _, s, _ in counted]
    assert modes == [("cell", 0.15), ("plain", 0.15), ("none", 0.0)] * 2

    scores = ScoreTable(exp_dir / "scores.json").records
    assert len(scores) == 6
    assert all(r["status"] == "done" for r in scores.values())
    assert {k.split("|")[0] for k in scores} == set(AUX_SETUPS)

    data = json.loads((exp_dir / "aux.json").read_text())
    summary = data["summary"]
    assert [d["id"] for d in summary["designs"]] == [2, 6]
    assert [d["search_reward"] for d in summary["designs"]] == [0.62, 0.58]
    assert data["metric"] == "mean_iou" and data["seed"] == seed
    assert data["source"] == str(source)
    for d in summary["designs"]:
        assert all(0.0 <= d["values"][s] <= 1.0 for s in AUX_SETUPS)
        assert d["best"] in (*AUX_SETUPS, "tie")
    assert sum(summary["best_counts"].values()) == 2 == summary["decided"]
    assert [(c["before"], c["after"], c["n"]) for c in summary["comparisons"]] == [
        ("plain", "cells", 2),
        ("none", "cells", 2),
    ]
    settings = data["settings"]
    assert list(settings) == list(AUX_SETUPS)
    for setup, mode in zip(AUX_SETUPS, ("cell", "plain", "none")):
        assert settings[setup]["polyak"] is False and settings[setup]["distill"] is False
        assert settings[setup]["decoder"]["aux_mode"] == mode
        assert settings[setup]["stage2"]["epochs"] == 2
    assert settings["none"]["aux_weight"] == 0.0 and settings["cells"]["aux_weight"] == 0.15

    stored = load_yaml(SearchSettings, exp_dir / "config.yaml")
    assert stored.evaluation.stage2.epochs == 2  # --epochs
    assert stored.evaluation.stage1.epochs == 1  # the search's
    assert stored.data == load_source(source).settings.data
    text = (exp_dir / "experiment.md").read_text()
    assert "Auxiliary cells beat plain and none for most designs:" in text
    assert "| #2 | 0.6200 |" in text and "| #6 | 0.5800 |" in text
    assert "stage 2 for 2 epoch(s)" in text
    assert (exp_dir / "aux.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # everything recorded: a rerun trains nothing and rewrites the same report
    assert _run("aux", source, exp_dir, "--top", "2", "--epochs", "2") == 0
    assert len(counted) == 6
    assert "every candidate recorded; report rewritten" in _out(capsys)
    assert json.loads((exp_dir / "aux.json").read_text())["summary"] == summary


def test_aux_killed_and_resumed_trains_only_the_missing_candidates(
    fresh_segnas_cache, one_thread, source, tmp_path, monkeypatch, capsys
) -> None:
    import segnas.search.run as search_run

    real = search_run.evaluate_candidate
    exp_dir = tmp_path / "aux"

    # 1. Killed while training its second candidate: the first is recorded.
    monkeypatch.setattr(search_run, "evaluate_candidate", dies_on_call(real, 2))
    with pytest.raises(Killed):
        _run("aux", source, exp_dir, "--top", "1", "--epochs", "1")
    kept = ScoreTable(exp_dir / "scores.json").records
    assert [k.split("|")[0] for k in kept] == ["cells"]
    capsys.readouterr()

    # 2. The rerun trains the two missing candidates only; the kept record is untouched.
    calls = []

    def counted(genotype, settings, data, **kwargs):
        calls.append(settings.decoder.aux_mode)
        return real(genotype, settings, data, **kwargs)

    monkeypatch.setattr(search_run, "evaluate_candidate", counted)
    assert _run("aux", source, exp_dir, "--top", "1", "--epochs", "1") == 0
    assert "2 to train" in _out(capsys)
    assert calls == ["plain", "none"]
    records = ScoreTable(exp_dir / "scores.json").records
    assert len(records) == 3
    for key, record in kept.items():
        assert records[key] == record
    assert (exp_dir / "experiment.md").is_file()

    # 3. Other epochs in the same folder are refused, naming the setting; nothing trains.
    assert _run("aux", source, exp_dir, "--top", "1", "--epochs", "2") == 2
    err = capsys.readouterr().err
    assert "evaluation.stage2.epochs: experiment has 1, now 2" in err
    assert "another --exp-dir" in err
    assert calls == ["plain", "none"]
    assert ScoreTable(exp_dir / "scores.json").records == records


# --------------------------------------------------------------------------- correlation


def test_correlation_trains_one_design_per_band(
    fresh_segnas_cache, one_thread, source, counted, tmp_path, capsys
) -> None:
    exp_dir = tmp_path / "correlation"
    assert _run("correlation", source, exp_dir, "--per-band", "1", "--epochs", "1") == 0
    assert "3 to train" in _out(capsys)

    scored = load_source(source).scored()
    expected, edges = sample_bands(scored, 1, 0)
    assert [r["band"] for r in expected] == ["low", "medium", "high"]
    assert len(counted) == 3
    assert [g for g, _, _ in counted] == [r["genotype"] for r in expected]
    for _, settings, seed in counted:  # the search's own candidate settings, trained longer
        assert seed == longer_seed(0)
        assert (settings.polyak, settings.distill, settings.decoder.aux_mode) == (
            True,
            True,
            "cell",
        )
        assert settings.stage2.epochs == 1

    data = json.loads((exp_dir / "correlation.json").read_text())
    assert data["per_band"] == 1 and data["band_edges"] == list(edges)
    assert data["source"] == str(source) and data["seed"] == longer_seed(0)
    summary = data["summary"]
    assert summary["bands"] == {"low": 1, "medium": 1, "high": 1}
    assert [d["id"] for d in summary["designs"]] == [r["id"] for r in expected]
    for d, row in zip(summary["designs"], expected):
        assert (d["band"], d["reward"], d["stage1"]) == (
            row["band"],
            row["reward"],
            row["stage1_reward"],
        )
        assert 0.0 <= d["final"] <= 1.0 and 0.0 <= d["longer_reward"] <= 1.0
    assert len(data["records"]) == 3 and all(r["status"] == "done" for r in data["records"])
    correlations = summary["correlations"]
    assert len(correlations) == 5
    assert [(c["x"], c["y"]) for c in correlations] == [
        ("stage1", "final"),
        ("stage2", "final"),
        ("reward", "final"),
        ("reward", "longer_reward"),
        ("stage1", "stage2"),
    ]
    stopped = sum(d["stage2"] is None for d in summary["designs"])
    for c in correlations:
        needs_stage2 = "stage2" in (c["x"], c["y"])
        assert c["n"] == 3 - (stopped if needs_stage2 else 0)
    text = (exp_dir / "experiment.md").read_text()
    assert "## Spearman rank correlations" in text and "Designs per band: low 1" in text
    assert "(the paper's bar):" in text
    assert (exp_dir / "correlation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_yaml(SearchSettings, exp_dir / "config.yaml").evaluation.stage2.epochs == 1


# --------------------------------------------------------------------------- refusals


def test_from_a_folder_that_is_not_a_search_run_is_refused(tmp_path, capsys) -> None:
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    for kind, extra in (("aux", ["--top", "1"]), ("correlation", ["--per-band", "1"])):
        assert _run(kind, folder, tmp_path / kind, *extra) == 2
        err = capsys.readouterr().err
        assert f"--from {folder}: no config.yaml" in err
        assert not (tmp_path / kind).exists()


def test_aux_refuses_a_zero_auxiliary_weight(source, tmp_path, capsys) -> None:
    exp_dir = tmp_path / "aux"
    assert _run("aux", source, exp_dir, "--set", "evaluation.aux_weight=0") == 2
    err = capsys.readouterr().err
    assert "evaluation.aux_weight: got 0.0, expected > 0" in err
    assert not exp_dir.exists()  # refused before anything is written


def test_bad_counts_are_refused(source, tmp_path, capsys) -> None:
    assert _run("aux", source, tmp_path / "a", "--top", "0") == 2
    assert "--top: got 0, expected >= 1" in capsys.readouterr().err
    assert _run("aux", source, tmp_path / "b", "--epochs", "0") == 2
    assert "--epochs: got 0, expected >= 1" in capsys.readouterr().err
    assert _run("correlation", source, tmp_path / "c", "--per-band", "0") == 2
    assert "--per-band: got 0, expected >= 1" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abc")


def test_correlation_refuses_fewer_than_three_scored_designs(tmp_path, capsys) -> None:
    run = tmp_path / "small"
    make_source_run(run, [("done", 0.4), ("failed", 0.0), ("stopped", 0.2)])
    assert len(load_source(run).scored()) == 2
    exp_dir = tmp_path / "correlation"
    assert _run("correlation", run, exp_dir, "--per-band", "1") == 2
    err = capsys.readouterr().err
    assert f"--from {run}: 2 scored designs, expected >= 3" in err
    assert not exp_dir.exists()


def test_aux_refuses_a_search_without_scored_designs(tmp_path, capsys) -> None:
    run = tmp_path / "failed"
    make_source_run(run, [("failed", 0.0), ("failed", 0.0)])
    assert _run("aux", run, tmp_path / "aux", "--top", "2") == 2
    assert f"--from {run}: no scored design" in capsys.readouterr().err


def test_the_fake_source_ranks_as_specified(source) -> None:
    scored = load_source(source).scored()
    done = sorted((r for s, r in SPECS if s in ("done", "stopped")), reverse=True)
    assert [r["reward"] for r in scored] == done
    assert all(r["status"] != "failed" for r in scored)


@pytest.mark.slow
def test_correlation_on_ray_matches_the_local_run(fresh_segnas_cache, source, tmp_path) -> None:
    """`--executor ray` trains the same candidates, with the same results, as worker processes
    (a local Ray instance; slow: Ray takes tens of seconds to start)."""
    pytest.importorskip("ray")
    assert _run("correlation", source, tmp_path / "local", "--per-band", "1", "--epochs", "1") == 0
    ray_dir = tmp_path / "ray"
    assert (
        _run(
            "correlation", source, ray_dir, "--per-band", "1", "--epochs", "1", "--executor", "ray"
        )
        == 0
    )
    local = ScoreTable(tmp_path / "local" / "scores.json").records
    on_ray = ScoreTable(ray_dir / "scores.json").records
    assert set(local) == set(on_ray) and len(local) == 3
    for key, record in local.items():
        assert on_ray[key]["status"] == record["status"] == "done"
        assert on_ray[key]["stage2_reward"] == pytest.approx(record["stage2_reward"], abs=1e-6)
