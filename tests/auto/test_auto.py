"""`segnas auto` end to end on tiny built-in data: data check, a 2-candidate latency-capped
search, full training of the best design and a U-Net baseline, evaluation, latency in one
process, ONNX export with its card, auto.md; killed after the search and after training, each
resume goes on without redoing a finished step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import segnas.auto.pipeline as pipeline
from segnas.cli import main

DATA = "builtin:seed=0,size=64,train=24,val=8"
SETS = [
    "search.teacher=none",
    "search.rescore_top=0",
    "search.train_count=16",
    "search.val_count=8",
    "search.evaluation.stage1.epochs=1",
    "search.evaluation.stage2.epochs=1",
    "search.latency.runs=2",
    "search.latency.warmup=0",
    "search.latency.channels=8",
    "search.latency.repeats=1",
    "train.decoder.channels=8",
    "train.decoder.repeats=1",
    "train.epochs_per_stage=1",
    "train.aux_weights=[0.3]",
    "train.batch_size=8",
    "bench_runs=2",
    "bench_rounds=1",
    "compare=[lraspp_mobilenet_v3_large]",
]
ARGS = [
    *("--data", DATA, "--budget", "2", "--baselines", "smp:unet", "--max-latency-ms", "100000"),
    *("--latency-size", "64", "--latency-threads", "1", "--device", "cpu"),
]


class Killed(Exception):
    """Stands in for the process dying."""


def sets() -> list[str]:
    return [arg for item in SETS for arg in ("--set", item)]


def never(*args, **kwargs):
    raise AssertionError("a finished step ran again")


def test_auto_runs_every_step_and_resumes_after_kills(
    fresh_segnas_cache: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    pytest.importorskip("segmentation_models_pytorch")
    run_dir = tmp_path / "auto"

    # Killed while training, after the search finished.
    monkeypatch.setattr(pipeline.AutoRun, "_train", lambda *a: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        main(["auto", *ARGS, "--run-dir", str(run_dir), *sets()])
    state = json.loads((run_dir / "auto.json").read_text())["steps"]
    assert list(state) == ["check", "search"]
    assert (run_dir / "search" / "report.md").is_file()
    rows = state["search"]["outcome"]
    assert rows["best"] is not None and rows["stopped"] is None
    monkeypatch.undo()

    # Resumed: the search is not run again; killed while timing, after both trainings.
    monkeypatch.setattr(pipeline, "run_search", never)
    monkeypatch.setattr(pipeline.AutoRun, "_latency", lambda *a: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        main(["auto", "--resume", str(run_dir), "--device", "cpu"])
    state = json.loads((run_dir / "auto.json").read_text())["steps"]
    assert list(state) == [
        "check",
        "search",
        "train:found-1",
        "eval:found-1",
        "train:smp-unet",
        "eval:smp-unet",
    ]
    for name in ("found-1", "smp-unet"):
        assert (run_dir / "train" / name / "model.pt").is_file()
        assert (
            0.0
            <= json.loads((run_dir / "train" / name / "eval.json").read_text())["mean_iou"]
            <= 1.0
        )
    monkeypatch.undo()

    # Resumed again: neither search nor training runs; timing, export and the report do.
    monkeypatch.setattr(pipeline, "run_search", never)
    monkeypatch.setattr(pipeline, "train_final", never)
    capsys.readouterr()
    assert main(["auto", "--resume", str(run_dir), "--device", "cpu"]) == 0
    state = json.loads((run_dir / "auto.json").read_text())["steps"]
    assert list(state)[-3:] == ["latency", "export:found-1", "report"]
    latency = json.loads((run_dir / "latency.json").read_text())
    assert set(latency) == {"found-1", "smp-unet", "lraspp_mobilenet_v3_large"}
    assert all(f["mean_ms"] > 0 and f["size"] == 64 for f in latency.values())
    exported = state["export:found-1"]["outcome"]
    assert Path(exported["path"]).is_file() and Path(exported["card"]).is_file()
    assert exported["latency_ms"] > 0
    text = (run_dir / "auto.md").read_text()
    for name in ("found-1", "smp-unet", "lraspp_mobilenet_v3_large", "## Verdict", "100000 ms cap"):
        assert name in text, text
    assert "segnas auto" in capsys.readouterr().out

    # A finished run resumed does nothing again, and a fresh run cannot reuse the directory.
    assert main(["auto", "--resume", str(run_dir), "--device", "cpu"]) == 0
    assert main(["auto", *ARGS, "--run-dir", str(run_dir)]) == 2


@pytest.mark.slow  # the depth pipeline test covers search, train, eval, export in `make test`
def test_auto_depth_trains_by_the_depth_recipe_and_reports_delta(
    fresh_segnas_cache: Path, tmp_path: Path
) -> None:
    pytest.importorskip("segmentation_models_pytorch")
    run_dir = tmp_path / "auto-depth"
    depth_sets = [s for s in SETS if not s.startswith("train.aux_weights")]
    args = [*ARGS, "--task", "depth", "--run-dir", str(run_dir)]
    assert main(["auto", *args, *(a for s in depth_sets for a in ("--set", s))]) == 0
    train_config = (run_dir / "train" / "found-1" / "config.yaml").read_text()
    assert "decoder_optimizer: sgd" in train_config and "decoder_lr: 0.007" in train_config
    for name in ("found-1", "smp-unet"):
        figures = json.loads((run_dir / "train" / name / "eval.json").read_text())
        assert 0 <= figures["delta1"] <= 1 and figures["rmse"] > 0
    text = (run_dir / "auto.md").read_text()
    assert "| model | kind | δ<1.25 |" in text and "against smp-unet: δ<1.25" in text
    card = json.loads(next((run_dir / "export").glob("*.card.json")).read_text())
    assert card["task"] == "depth"
