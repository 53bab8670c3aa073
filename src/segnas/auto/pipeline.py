"""The `segnas auto` pipeline: each step writes its results, then marks itself done in
`auto.json`, so a run killed anywhere goes on from the first unfinished step.

    DIR/auto.yaml                 the resolved settings (a resume must agree with them)
    DIR/auto.json                 finished steps and what each produced
    DIR/data_check.json           step `check`
    DIR/search/                   step `search` (a resumable search run)
    DIR/train/<name>/             step `train:<name>` per found design and baseline (resumable
                                  per epoch); `eval:<name>` writes DIR/train/<name>/eval.json
    DIR/latency.json              step `latency`: every model timed in one process, in rounds
    DIR/export/<name>.onnx        step `export:<name>` with its model card
    DIR/auto.md                   step `report`: the found model beside the baselines

Steps that run long resume inside themselves (the search from its checkpoint, training from its
last epoch); the short ones (evaluation, timing, export, report) run again whole.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from segnas.auto.settings import AutoSettings
from segnas.auto.summary import write_summary
from segnas.data import SegmentationSource, check_dataset, open_dataset, require_clean
from segnas.final.arch_ref import ArchRef, resolve_arch
from segnas.final.bench import benchmark, torchvision_models
from segnas.final.depth_eval import evaluate_depth
from segnas.final.eval import class_names_for, evaluate, load_checked
from segnas.final.export import ExportSettings, export_model
from segnas.final.inference import inference_net
from segnas.final.latency import intra_op_threads
from segnas.final.model_card import build_card, write_card
from segnas.final.train import train_final
from segnas.report.run_report import load_run, write_report
from segnas.run_dir import atomic_write_json, check_same
from segnas.search.latency import usable_threads
from segnas.search.run import EXECUTION_FIELDS, LatencyMeterFactory, run_search
from segnas.search.store import ranked
from segnas.settings_io import dump_yaml, load_yaml, to_dict
from segnas.space.model_file import load_model
from segnas.tasks import task_for_source, task_from_meta, task_options

STATE_FILE = "auto.json"


class AutoState:
    """`auto.json`: the finished steps, each with what it produced; written atomically."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / STATE_FILE
        self.steps: dict[str, Any] = {}
        if self.path.is_file():
            self.steps = json.loads(self.path.read_text(encoding="utf-8"))["steps"]

    def done(self, step: str) -> bool:
        return step in self.steps

    def finish(self, step: str, outcome: Any = None) -> None:
        self.steps[step] = {"finished_at": time.time(), "outcome": outcome}
        atomic_write_json(self.path, {"steps": self.steps}, indent=1)

    def outcome(self, step: str) -> Any:
        return self.steps[step]["outcome"]


@dataclass(frozen=True)
class Subject:
    """A model the pipeline trains: a found design or a baseline, under a short name."""

    name: str
    arch: ArchRef
    kind: str
    """"found" or "baseline"."""


def open_splits(settings: AutoSettings) -> tuple[SegmentationSource, SegmentationSource, dict]:
    """Training and validation splits, checked (real data refused when bad unless the search
    settings skip bad samples), and the check's summary."""
    s = settings.search
    splits, checks = [], {}
    for split in ("train", "val"):
        source = open_dataset(s.data, split=split, num_classes=s.classes, task=s.task)
        if source.name != "builtin":  # generated valid
            report = check_dataset(source)
            source = require_clean(source, report, s.skip_bad_samples)
            checks[split] = {"ok": report.ok, "bad": len(report.bad_ids), "images": len(source)}
        else:
            checks[split] = {"ok": True, "bad": 0, "images": len(source), "generated": True}
        splits.append(source)
    return splits[0], splits[1], checks


def found_subjects(search_dir: Path, settings: AutoSettings) -> list[Subject]:
    """The search's best (re-scored when it re-scored), then its next designs by rank
    (`RUN_DIR:N`), `top` in all, each design once."""
    first = resolve_arch(f"{search_dir}:best")
    subjects, seen = [Subject("found-1", first, "found")], {first.genotype.normalized()}
    run = load_run(search_dir)
    scored = len(ranked(run["rows"], objective=run["objective"]))
    for rank in range(1, scored + 1):
        if len(subjects) >= settings.top:
            break
        arch = resolve_arch(f"{search_dir}:{rank}")
        if arch.genotype.normalized() not in seen:
            seen.add(arch.genotype.normalized())
            subjects.append(Subject(f"found-{len(subjects) + 1}", arch, "found"))
    return subjects


def baseline_subjects(settings: AutoSettings) -> list[Subject]:
    return [
        Subject(name.replace(":", "-"), resolve_arch(name), "baseline")
        for name in settings.baselines
    ]


def time_models(
    models: dict[str, nn.Module],
    settings: AutoSettings,
    device: torch.device,
    say: Callable[[str], None],
) -> dict[str, dict[str, float]]:
    """Every model timed in this one process, in rounds (each model once per round, so drift
    hits all alike): {name: {mean_ms (median of round means), rounds: [...], params, madds}}."""
    lat = settings.search.latency
    size, threads = (lat.size, lat.size), usable_threads(lat.threads)
    out: dict[str, dict[str, Any]] = {name: {"rounds": []} for name in models}
    with intra_op_threads(threads):
        for round_index in range(settings.bench_rounds):
            for name, module in models.items():
                result = benchmark(module.to(device), size, device, settings.bench_runs, warmup=2)
                out[name]["rounds"].append(result.mean_ms)
                out[name].update(params=result.params, madds=result.madds)
            say(f"latency round {round_index + 1}/{settings.bench_rounds} done")
    for figures in out.values():
        figures["mean_ms"] = statistics.median(figures["rounds"])
        figures.update(size=lat.size, threads=threads, device=str(device))
    return out


class AutoRun:
    """One `segnas auto` directory, run or resumed step by step."""

    def __init__(
        self,
        settings: AutoSettings,
        run_dir: Path,
        device: torch.device,
        console: Console,
        latency_meter: LatencyMeterFactory,
    ) -> None:
        self.settings, self.run_dir, self.device = settings, run_dir, device
        self.console, self.latency_meter = console, latency_meter
        self.state = AutoState(run_dir)
        self.search_dir = run_dir / "search"

    def say(self, text: str) -> None:
        self.console.print(text)

    def step(self, name: str, work: Callable[[], Any]) -> Any:
        """Run `work` unless step `name` finished before; record its outcome when it does."""
        if self.state.done(name):
            self.say(f"[dim]auto: {name}: done before, skipped[/dim]")
            return self.state.outcome(name)
        self.say(f"[bold]auto: {name}[/bold]")
        outcome = work()
        self.state.finish(name, outcome)
        return outcome

    def run(self) -> Path:
        train, val, checks = open_splits(self.settings)
        search = self.settings.search
        self.task = task_for_source(search.task, train, task_options(search))
        self.step("check", lambda: self._check(checks))
        self.step("search", self._search)
        subjects = found_subjects(self.search_dir, self.settings) + baseline_subjects(self.settings)
        for subject in subjects:
            self.step(f"train:{subject.name}", lambda s=subject: self._train(s, train, val))
            self.step(f"eval:{subject.name}", lambda s=subject: self._eval(s, val))
        self.step("latency", lambda: self._latency(subjects, train.num_classes))
        for subject in subjects:
            if subject.kind == "found":
                self.step(f"export:{subject.name}", lambda s=subject: self._export(s))
        return self.step("report", lambda: str(write_summary(self.run_dir, subjects)))

    def _check(self, checks: dict) -> dict:
        atomic_write_json(self.run_dir / "data_check.json", checks, indent=1)
        return checks

    def _search(self) -> dict:
        resume = (self.search_dir / "search.sqlite").exists()
        out = run_search(
            self.settings.search,
            self.search_dir,
            device=str(self.device),
            resume=resume,
            console=self.console,
            latency_meter=self.latency_meter,
        )
        write_report(self.search_dir)
        best = out["best"]
        return {"best": None if best is None else best["id"], "stopped": out.get("stopped")}

    def model_dir(self, subject: Subject) -> Path:
        return self.run_dir / "train" / subject.name

    def _train(self, subject: Subject, train: SegmentationSource, val: SegmentationSource) -> dict:
        run_dir = self.model_dir(subject)
        run = train_final(
            subject.arch,
            train,
            val,
            self.settings.train,
            run_dir,
            self.device,
            dataset=self.settings.search.data,
            encoder=self.settings.search.encoder,
            encoder_weights=self.settings.search.encoder_weights,
            resume=(run_dir / "checkpoint.pt").exists(),
            console=self.console,
            task=self.task,
        )
        seconds = sum(r["seconds"] + r["val_seconds"] for r in run.history)
        return {"design": subject.arch.design, "kind": subject.kind, "seconds": seconds}

    def _eval(self, subject: Subject, val: SegmentationSource) -> dict:
        path = self.model_dir(subject) / "model.pt"
        net, meta = load_checked(path, self.device, val.num_classes)
        if meta.task == "depth":
            task = task_from_meta(meta)
            settings = self.settings.eval
            depth = evaluate_depth(net, val, task, settings, self.device)  # type: ignore[arg-type]
            figures = depth.to_dict()
            atomic_write_json(self.model_dir(subject) / "eval.json", figures, indent=1)
            return {"delta1": figures["delta1"], "images": depth.images}
        names, _ = class_names_for(meta, val.class_names)
        report = evaluate(net, val, self.settings.eval, self.device, names)
        figures = report.to_dict()
        atomic_write_json(self.model_dir(subject) / "eval.json", figures, indent=1)
        return {"mean_iou": figures["mean_iou"], "images": report.images}

    def _latency(self, subjects: list[Subject], num_classes: int) -> dict:
        models: dict[str, nn.Module] = {}
        for subject in subjects:
            net, _ = load_model(self.model_dir(subject) / "model.pt")
            models[subject.name] = inference_net(net, self.device)
        models.update(torchvision_models(num_classes, self.settings.compare))
        figures = time_models(models, self.settings, self.device, self.say)
        atomic_write_json(self.run_dir / "latency.json", figures, indent=1)
        return {name: f["mean_ms"] for name, f in figures.items()}

    def _export(self, subject: Subject) -> dict:
        net, meta = load_model(self.model_dir(subject) / "model.pt")
        fmt = self.settings.export_format
        path = self.run_dir / "export" / f"{subject.name}.{'onnx' if fmt == 'onnx' else 'pt'}"
        settings = ExportSettings(format=fmt, size=self.settings.search.latency.size)
        result = export_model(net, path, settings, self.device)
        json_card, _ = write_card(result.path, build_card(net, meta, result))
        latency = None if result.latency is None else result.latency.mean_ms
        return {"path": str(result.path), "card": str(json_card), "latency_ms": latency}


def open_auto(settings: AutoSettings, run_dir: Path, resume: bool) -> AutoSettings:
    """A new directory (refused when it holds a run) or a resumed one (its auto.yaml must agree
    with `settings`, except the search's execution fields, which a search resume may change
    too: a larger time budget goes on); writes auto.yaml."""
    config = run_dir / "auto.yaml"
    if resume:
        if not config.is_file():
            raise FileNotFoundError(f"--resume {run_dir}: no auto.yaml, not a segnas auto run")
        stored = load_yaml(AutoSettings, config)
        ignore = tuple(f"search.{name}" for name in EXECUTION_FIELDS)
        check_same(str(config), _flat(stored), _flat(settings), ignore=ignore)
        execution = {name: getattr(settings.search, name) for name in EXECUTION_FIELDS}
        settings = replace(stored, search=replace(stored.search, **execution))
    elif config.exists():
        raise FileExistsError(f"{run_dir} holds a segnas auto run; use --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_yaml(settings, config)
    return settings


def _flat(settings: AutoSettings) -> dict[str, Any]:
    """Settings as one level of dotted keys, so `check_same` can ignore nested fields."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = value

    walk("", to_dict(settings))
    return out


def run_auto(
    settings: AutoSettings,
    run_dir: Path,
    *,
    device: torch.device,
    resume: bool = False,
    console: Console | None = None,
    latency_meter: LatencyMeterFactory,
) -> Path:
    """Run (or resume) the pipeline in `run_dir`; returns the path of auto.md."""
    console = console or Console()
    settings = open_auto(settings, Path(run_dir), resume)
    auto = AutoRun(settings, Path(run_dir), device, console, latency_meter)
    return Path(auto.run())
