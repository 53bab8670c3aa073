"""ARCH references: known designs, JSON, and picks from a real search store (RUN_DIR:best/N)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from segnas.cli.train import default_run_dir
from segnas.final.arch_ref import resolve_arch
from segnas.genotype import KNOWN_DESIGNS, GenotypeError, parse
from tests.fixtures.search_runs import MIXED, genotype_text, make_run

RANKED_IDS = [3, 0, 4, 6, 1]
"""MIXED's scored candidates, best first (failed #2 and running #5 are left out)."""


@pytest.fixture(scope="module")
def search_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "search-x"
    make_run(run_dir, MIXED).close()
    return run_dir


def test_known_designs_and_json_resolve_without_a_run() -> None:
    ref = resolve_arch("arch1")
    assert ref.genotype == KNOWN_DESIGNS["arch1"] and ref.origin == {} and ref.slug == "arch1"
    text = str(KNOWN_DESIGNS["arch2"])
    ref = resolve_arch(f"  {text} ")
    assert ref.genotype == KNOWN_DESIGNS["arch2"] and ref.text == text
    assert re.fullmatch(r"json-[0-9a-f]{8}", ref.slug)
    assert resolve_arch(text).slug == ref.slug  # stable across calls and processes


def test_best_and_nth_follow_the_report_ranking(search_run: Path) -> None:
    best = resolve_arch(f"{search_run}:best")
    assert best.genotype == parse(genotype_text(3))
    assert best.origin == {"run_dir": str(search_run), "candidate": 3, "rank": 1, "reward": 0.55}
    assert best.slug == "search-x-best"
    for rank, candidate in enumerate(RANKED_IDS, start=1):
        ref = resolve_arch(f"{search_run}:{rank}")
        assert (
            ref.genotype == parse(genotype_text(candidate)) and ref.origin["candidate"] == candidate
        )
    assert resolve_arch(f"{search_run}:1").genotype == best.genotype


@pytest.mark.parametrize("rank", [0, 6, 99])
def test_rank_out_of_range_names_the_valid_range(search_run: Path, rank: int) -> None:
    with pytest.raises(
        ValueError, match=r"rank \d+ out of range.*5 finished candidates \(1\.\.5\)"
    ):
        resolve_arch(f"{search_run}:{rank}")


def test_run_without_finished_candidates_says_what_it_has(tmp_path: Path) -> None:
    make_run(tmp_path / "early", [None, ("failed", 0.0)]).close()
    with pytest.raises(ValueError, match=r"no finished candidate yet \(1 failed, 1 running\)"):
        resolve_arch(f"{tmp_path / 'early'}:best")


def test_missing_run_and_a_folder_that_is_no_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        resolve_arch(f"{tmp_path / 'nowhere'}:best")
    with pytest.raises(FileNotFoundError, match="not a search run"):
        resolve_arch(f"{tmp_path}:best")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("arch9", "expected a known design"),
        (":best", "expected a known design"),
        ("runs/x:top", "expected `best` or a rank"),
        ("runs/x:-1", "expected `best` or a rank"),
    ],
)
def test_malformed_references_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_arch(text)


def test_bad_json_is_a_genotype_error_naming_the_position() -> None:
    with pytest.raises(GenotypeError, match=r"\[0\]\[2\]\[1\] .*got 9, expected .*\[0, 6\)"):
        resolve_arch("[[[3, 3], [3, 2], [3, 9]], [8, [0, 0, 5, 2], [0, 2, 8, 8], [0, 5, 1, 4]]]")


def test_default_run_dir_names_the_design_and_the_time(search_run: Path) -> None:
    assert re.fullmatch(r"train-arch1-\d{8}-\d{6}", default_run_dir(resolve_arch("arch1")).name)
    pick = default_run_dir(resolve_arch(f"{search_run}:2"))
    assert pick.parent == Path("runs") and pick.name.startswith("train-search-x-2-")
