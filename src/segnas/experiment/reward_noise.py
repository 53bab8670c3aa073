"""`segnas experiment reward-noise`: can the reward rank designs, and does a preset agree?

The same random designs are trained with several evaluation seeds at each preset. Per preset:
the intraclass correlation (ICC) of the reward, i.e. the share of its variance that is due to
the design rather than to the seed; across presets: the Spearman rank correlation of the
designs' mean rewards (how faithfully a cheap preset ranks designs as the default one does).
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segnas.genotype import DEFAULT_SPACE, Genotype, parse, sample
from segnas.run_dir import atomic_write_text

if TYPE_CHECKING:
    from segnas.search.settings import SearchSettings


def random_designs(count: int, seed: int = 0) -> list[Genotype]:
    """`count` distinct designs drawn uniformly; the same for every preset of one experiment."""
    rng = random.Random(seed)
    out: list[Genotype] = []
    while len(out) < count:
        genotype = sample(rng, DEFAULT_SPACE)
        if genotype.normalized() not in {g.normalized() for g in out}:
            out.append(genotype)
    return out


def intraclass_correlation(grid: Sequence[Sequence[float]]) -> dict[str, float]:
    """ICCs of a designs x seeds table of rewards (Shrout & Fleiss / McGraw & Wong).

    `icc1`: one-way, absolute agreement of single scores; the seed's effect counts as noise.
    `icc_consistency` (ICC(3,1)): two-way, consistency; a seed that lifts or lowers every design
    alike does not count. With common random numbers, seed k trains every design with the same
    draw, so this is the one that says whether a single evaluation ranks designs.
    """
    x = np.asarray(grid, dtype=float)
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"grid: got {n} designs x {k} seeds, expected at least 2 x 2")
    grand = x.mean()
    rows, cols = x.mean(axis=1), x.mean(axis=0)
    ss_rows = k * ((rows - grand) ** 2).sum()
    ss_cols = n * ((cols - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ss_within = ss_total - ss_rows
    ss_error = ss_total - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_within = ss_within / (n * (k - 1))
    ms_error = ss_error / ((n - 1) * (k - 1))
    icc1 = (ms_rows - ms_within) / (ms_rows + (k - 1) * ms_within)
    icc3 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error)
    return {
        "icc1": float(icc1),
        "icc_consistency": float(icc3),
        "between_design_sd": float(np.std(rows, ddof=1)),
        "within_design_sd": float(np.sqrt(ms_within)),
    }


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def score_grid(
    path: Path,
    designs: Sequence[Genotype],
    seeds: Sequence[int],
    scorer: Callable[[Genotype, int], float],
    say: Callable[[str], None] = lambda _: None,
) -> list[list[float]]:
    """Rewards[design][seed], each written to `path` (JSON) as it is measured; resumable."""
    path = Path(path)
    done: dict[str, float] = {}
    if path.is_file():
        done = json.loads(path.read_text(encoding="utf-8"))["scores"]
    grid = []
    for index, design in enumerate(designs):
        row = []
        for seed in seeds:
            key = f"{seed}:{design}"
            if key not in done:
                done[key] = float(scorer(design, seed))
                say(f"design {index} seed {seed}: {done[key]:.4f}")
                payload = {"designs": [str(d) for d in designs], "seeds": list(seeds)}
                atomic_write_text(path, json.dumps({**payload, "scores": done}, indent=1))
            row.append(done[key])
        grid.append(row)
    return grid


def summarize_presets(grids: dict[str, list[list[float]]]) -> dict[str, Any]:
    """ICC per preset; Spearman of mean rewards between every pair of presets."""
    out: dict[str, Any] = {"presets": {}, "spearman": {}}
    means = {}
    for name, grid in grids.items():
        means[name] = [statistics.fmean(row) for row in grid]
        noise = (
            intraclass_correlation(grid)
            if len(grid[0]) > 1
            else dict.fromkeys(("icc1", "icc_consistency", "between_design_sd", "within_design_sd"))
        )
        out["presets"][name] = {
            **noise,
            "designs": len(grid),
            "seeds": len(grid[0]),
            "mean_reward": statistics.fmean(means[name]),
        }
    names = list(grids)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            out["spearman"][f"{a} vs {b}"] = spearman(means[a], means[b])
    return out


def render_markdown(
    summary: dict[str, Any],
    command: str,
    grids: dict[str, list[list[float]]],
    designs: Sequence[Genotype],
) -> str:
    lines = [
        "# Reward noise and preset fidelity",
        "",
        "```",
        command,
        "```",
        "",
        "| preset | designs x seeds | mean reward | between-design sd | within-design sd |"
        " ICC(1) | ICC consistency |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in summary["presets"].items():
        cells = [
            "-" if p[key] is None else f"{p[key]:.{digits}f}"
            for key, digits in (
                ("between_design_sd", 3),
                ("within_design_sd", 3),
                ("icc1", 2),
                ("icc_consistency", 2),
            )
        ]
        lines.append(
            f"| {name} | {p['designs']} x {p['seeds']} | {p['mean_reward']:.3f} | "
            + " | ".join(cells)
            + " |"
        )
    if summary["spearman"]:
        lines += ["", "Spearman rank correlation of the designs' mean rewards:", ""]
        lines += [f"- {pair}: {rho:.2f}" for pair, rho in summary["spearman"].items()]
    lines += [
        "",
        "## Rewards",
        "",
        "| design | " + " | ".join(grids) + " |",
        "|---|" + "---|" * len(grids),
    ]
    for index, design in enumerate(designs):
        cells = [" / ".join(f"{r:.3f}" for r in grid[index]) for grid in grids.values()]
        lines.append(f"| `{design}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_designs(texts: Sequence[str]) -> list[Genotype]:
    return [parse(t) for t in texts]


def run_reward_noise(
    exp_dir: Path,
    presets: Mapping[str, SearchSettings],
    *,
    designs: int,
    seeds: Sequence[int],
    command: str,
    device: str = "auto",
    console=None,
) -> Path:
    """Score the same designs with `seeds` under each named, resolved settings (`default`: no
    preset); write `noise.md` and `noise.json`."""
    from rich.console import Console

    from segnas.devices import resolve_device
    from segnas.search.run import SearchEvaluator, prepare
    from segnas.settings_io import dump_yaml

    console = console or Console()
    exp_dir = Path(exp_dir)
    chosen = random_designs(designs)
    grids: dict[str, list[list[float]]] = {}
    torch_device = resolve_device(device)
    for name, config in presets.items():
        folder = exp_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        dump_yaml(config, folder / "config.yaml")
        console.print(f"[bold]{name}[/]: {len(chosen)} designs x {len(seeds)} seeds")
        data = prepare(config, folder, torch_device, console)
        evaluator = SearchEvaluator(config.evaluation, data, config.seed)
        grids[name] = score_grid(
            folder / "scores.json", chosen, seeds, evaluator.score, say=console.print
        )
    summary = summarize_presets(grids)
    atomic_write_text(exp_dir / "noise.json", json.dumps({**summary, "grids": grids}, indent=1))
    report = exp_dir / "noise.md"
    atomic_write_text(report, render_markdown(summary, command, grids, chosen))
    console.print(report.read_text(encoding="utf-8"))
    return report
