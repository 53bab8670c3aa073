"""Candidates per hour: one candidate at a time against parallel workers, quiet and contended.

The same designs (drawn with a fixed seed) run through each configuration with the search's
own data, settings and executors, in generations as a search runs them (a generation waits for
its slowest candidate; workers start the longest first); every candidate trains both stages
(early termination off) so each configuration does the same work. Configurations, each in a
fresh process:

- `before`: one candidate at a time with every core's thread, and OpenMP's default waiting
  (threads spin before they sleep): how segnas ran before worker processes.
- `1 x T passive`: the same with passive OpenMP waiting.
- `N x 1`: N worker processes with one thread each (segnas's default on the CPU).

Each runs quiet and with one busy process (a single-threaded spin loop) beside it. Workers
start before the clock does (their start-up is printed apart: a search pays it once). A
configuration's figures: candidates per hour (designs / wall time), and the mean seconds a
candidate took inside its worker. Ratios compare configurations measured in this run only.

    python benchmarks/search_throughput.py [--designs 8] [--generation G] [--presets default,proxy]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

RESULT = "RESULT "
"""Prefix of the one line a configuration's process prints for the driver."""


def _child(args: argparse.Namespace) -> None:
    """One configuration: prepare the data (cached), run the designs, print one result line."""
    if args.wait == "default":
        import torch  # noqa: F401 - loaded before segnas, so OpenMP keeps its default waiting

    from rich.console import Console

    from segnas.genotype import DEFAULT_SPACE, sample
    from segnas.search.early_stop import Gate
    from segnas.search.loop import LocalExecutor
    from segnas.search.run import SearchEvaluator, prepare
    from segnas.search.settings import SearchSettings
    from segnas.search.workers import ProcessExecutor, WorkerPlan
    from segnas.settings_io import load_layers, replace_paths

    preset = None if args.preset == "default" else args.preset
    settings = load_layers(SearchSettings, preset)
    if args.quick:
        changes = [("train_count", 32, None), ("val_count", 16, None), ("teacher", "none", None)]
        changes += [("evaluation.stage1.epochs", 1, None)]
        settings = replace_paths(settings, changes)
    import torch

    data = prepare(settings, None, torch.device("cpu"), Console(stderr=True))
    evaluator = SearchEvaluator(settings.evaluation, data, settings.seed)
    rng = random.Random(args.seed)
    designs = [sample(rng, DEFAULT_SPACE) for _ in range(args.designs)]
    always = Gate(enabled=False, p=1.0, running_average=None, coin=0.0)
    jobs = [(design, always) for design in designs]
    start = time.perf_counter()
    if args.workers > 1:
        executor = ProcessExecutor(WorkerPlan(args.workers, args.threads))
        executor.start(evaluator)  # workers up before the clock starts
    else:
        executor = LocalExecutor(threads=args.threads)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    results = []
    for first in range(0, len(jobs), args.generation):  # each generation waits for its slowest
        results += executor.run(evaluator, jobs[first : first + args.generation])
    wall = time.perf_counter() - start
    executor.shutdown()
    failed = [r.failure for r in results if r.status == "failed"]
    if failed:
        raise SystemExit(f"candidates failed: {failed}")
    per_candidate = [sum(r.seconds.values()) for r in results]
    line = {"wall": wall, "startup": startup, "candidate_seconds": per_candidate}
    print(RESULT + json.dumps(line), flush=True)


def _busy() -> subprocess.Popen:
    """One single-threaded process that keeps a core busy until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _run(config: dict, preset: str, args: argparse.Namespace, busy: bool) -> dict:
    env = dict(os.environ)
    if config["wait"] == "default":
        env.pop("OMP_WAIT_POLICY", None)
    else:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    command = [sys.executable, __file__, "--child", "--preset", preset]
    command += ["--workers", str(config["workers"]), "--threads", str(config["threads"])]
    command += ["--wait", config["wait"], "--designs", str(args.designs), "--seed", str(args.seed)]
    command += ["--generation", str(args.generation)]
    command += ["--quick"] if args.quick else []
    hog = _busy() if busy else None
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    if done.returncode != 0:
        raise SystemExit(f"{config['name']} failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT))
    return json.loads(line[len(RESULT) :])


def configurations(cores: int) -> list[dict]:
    before = {"name": f"before: 1 x {cores}, default wait", "workers": 1, "threads": cores}
    passive = {"name": f"1 x {cores}, passive", "workers": 1, "threads": cores}
    workers = {"name": f"{cores} x 1 (default)", "workers": cores, "threads": 1}
    return [
        {**before, "wait": "default"},
        {**passive, "wait": "passive"},
        {**workers, "wait": "passive"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=8, help="designs per configuration")
    parser.add_argument(
        "--generation",
        type=int,
        default=None,
        help="candidates run before the next start (default: twice the cores, as a search)",
    )
    parser.add_argument("--presets", default="default,proxy", help="comma-separated presets")
    parser.add_argument("--seed", type=int, default=0, help="seed of the designs drawn")
    parser.add_argument("--quick", action="store_true", help="tiny data: a smoke run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--wait", default="passive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    cores = len(os.sched_getaffinity(0))
    args.generation = args.generation or 2 * cores
    print(
        f"{cores} cores, {args.designs} designs (seed {args.seed}) per configuration, "
        f"in generations of {args.generation}"
    )
    header = f"{'preset':8} {'configuration':28} {'load':5} {'cand/h':>7} {'vs before':>9}"
    header += f" {'s/cand':>7} {'busy/quiet':>10} {'start s':>7}"
    print(header)
    for preset in args.presets.split(","):
        base_rate: dict[str, float] = {}
        for config in configurations(cores):
            quiet = _run(config, preset, args, busy=False)
            loaded = _run(config, preset, args, busy=True)
            quiet_mean = sum(quiet["candidate_seconds"]) / args.designs
            for load, result in (("quiet", quiet), ("busy", loaded)):
                rate = args.designs / result["wall"] * 3600
                base_rate.setdefault(load, rate)
                mean = sum(result["candidate_seconds"]) / args.designs
                print(
                    f"{preset:8} {config['name']:28} {load:5} {rate:7.0f} "
                    f"{rate / base_rate[load]:8.2f}x {mean:7.1f} {mean / quiet_mean:9.2f}x "
                    f"{result['startup']:7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
