"""The dashboard's JSON API on stores written directly: page data, live updates and conditional
polls, one candidate's details and diagram, experiments, and the safety rules (read-only, no
traversal, clear messages for a busy or damaged store)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segnas.dashboard import data, pages
from segnas.dashboard.designs import diagram_svg
from segnas.dashboard.runs import SERVED_SUFFIXES, discover
from segnas.genotype import parse
from segnas.search import store_read
from segnas.search.loop import STRATEGY_STATS
from segnas.search.store import STATUS, SearchStore, read_candidates, read_meta
from tests.fixtures.dashboard_runs import (
    MIXED,
    add_candidate,
    candidate_result,
    decision_for,
    reward_of,
    strategy_stats,
    write_search_run,
)
from tests.fixtures.search_runs import genotype_text

SCORED_K = [k for k, s in enumerate(MIXED) if s in ("done", "stopped")]


def page_of(client, name: str) -> dict:
    response = client.get(f"/api/runs/{name}")
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{response.json()["version"]}"'
    return response.json()


def test_runs_are_listed_with_unique_names_kinds_and_paths(tmp_path, client_for, experiment_run):
    first, second = tmp_path / "a" / "run", tmp_path / "b" / "run"
    write_search_run(first)
    (second).mkdir(parents=True)
    (second / "config.yaml").write_text("strategy: random\n")  # a search not started yet
    client = client_for([first, second, experiment_run])
    assert client.get("/api/runs").json() == {
        "runs": [
            {"name": "run", "kind": "search", "path": str(first)},
            {"name": "run-2", "kind": "search", "path": str(second)},
            {"name": "ablation-a", "kind": "experiment", "path": str(experiment_run)},
        ]
    }
    assert client.get("/api/config").json() == {"poll_seconds": 2.0}
    assert client_for([first], poll_seconds=0.5).get("/api/config").json()["poll_seconds"] == 0.5


def test_page_data_holds_every_candidate_as_the_store_has_it(search_run, client_for):
    page = page_of(client_for([search_run]), "search-a")
    assert (page["name"], page["kind"], page["status"]) == ("search-a", "search", {"message": None})
    rows = page["candidates"]
    assert [r["id"] for r in rows] == list(range(len(MIXED)))
    assert [r["status"] for r in rows] == [STATUS.get(s, s) for s in MIXED]
    for k, (row, status) in enumerate(zip(rows, MIXED)):
        assert row["genotype"] == genotype_text(k)
        if status in ("done", "stopped"):
            assert row["reward"] == reward_of(k)
            assert row["decision"]["go_on"] is (status == "done")
            assert row["seconds"] == pytest.approx(candidate_result(k, status).seconds)
        else:  # stored as 0.0, but no reward: not plotted as one
            assert row["reward"] is None and row["decision"] is None
    failed = rows[MIXED.index("failed")]
    assert failed["failure"] == "RuntimeError: CUDA out of memory (candidate 3)"  # first line
    assert rows[-1]["seconds"] is None and rows[-1]["finished_at"] is None  # running
    assert page["counts"] == {
        "done": 5,
        "stopped-after-stage-1": 2,
        "over-budget": 2,
        "failed": 2,
        "running": 1,
    }


def test_candidates_come_in_id_order_whatever_order_they_were_written(tmp_path, client_for):
    run = tmp_path / "shuffled"
    store = write_search_run(run, [], keep_open=True)
    assert store is not None
    for k in (2, 0, 3, 1):
        add_candidate(store, k, "done")
    add_candidate(store, 0, "stopped")  # a resumed search writes row 0 again
    store.close()
    rows = page_of(client_for([run]), "shuffled")["candidates"]
    assert [r["id"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["status"] == "stopped-after-stage-1"


def test_best_running_best_and_pareto_follow_the_rewards(search_run, client_for):
    page = page_of(client_for([search_run]), "search-a")
    rewards = {k: reward_of(k) for k in SCORED_K}
    top = max(rewards, key=lambda k: (rewards[k], -k))
    assert page["best"] == {"id": top, "reward": rewards[top]}
    expected, best = [], 0.0
    for k in SCORED_K:
        best = max(best, rewards[k])
        expected.append([k, best])
    assert page["running_best"] == expected
    assert page["pareto"]["axis"] == "madds"  # no latency measured
    madds = {k: candidate_result(k, MIXED[k]).madds for k in SCORED_K}
    front = page["pareto"]["ids"]
    assert top in front
    for k in SCORED_K:  # on the front exactly when no cheaper-or-equal design is better
        beaten = any(madds[j] <= madds[k] and rewards[j] > rewards[k] for j in SCORED_K)
        assert (k in front) is not beaten, k


def test_pareto_is_over_latency_when_measured(tmp_path, client_for):
    run = tmp_path / "fast"
    write_search_run(run, ["done", "done", "stopped", "done"], latencies=True)
    page = page_of(client_for([run]), "fast")
    assert page["pareto"]["axis"] == "latency_ms"
    assert [r["latency_ms"] for r in page["candidates"]] == [10.0, 11.0, 12.0, 13.0]
    # latency grows with k: each later design is on the front only if it beats every earlier
    rewards = [reward_of(k) for k in range(4)]
    assert page["pareto"]["ids"] == [
        k for k in range(4) if all(rewards[k] > rewards[j] for j in range(k))
    ]


def test_meta_and_controller_come_from_the_config_and_the_store(search_run, client_for):
    page = page_of(client_for([search_run]), "search-a")
    assert page["meta"] == {
        "strategy": "ppo",
        "budget": 20,
        "objective": "accuracy",
        "elapsed_seconds": 12.5 * len(MIXED),
        "stopped": None,
        "task": "segmentation",
        "reward_name": "mIoU",
    }
    assert page["controller"] == strategy_stats(len(MIXED))
    assert len(page["controller"]) == 3


def test_an_older_run_without_stats_or_newer_columns_still_shows(tmp_path, client_for):
    run = tmp_path / "old"
    run.mkdir()
    db = sqlite3.connect(run / "search.sqlite")
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE candidates (id INTEGER PRIMARY KEY, genotype TEXT NOT NULL,"
        " status TEXT NOT NULL, reward REAL, stage1_reward REAL, stage2_reward REAL,"
        " stage1_metrics TEXT, stage2_metrics TEXT, params INTEGER, madds INTEGER, seconds TEXT,"
        " decision TEXT, failure TEXT, traceback TEXT, attempts INTEGER NOT NULL DEFAULT 1,"
        " started_at REAL NOT NULL, finished_at REAL);"
    )
    db.execute(
        "INSERT INTO candidates (id, genotype, status, reward, stage1_reward, madds, seconds,"
        " started_at, finished_at) VALUES (0, ?, 'stopped-after-stage-1', 0.3, 0.3, 5, ?, 1, 2)",
        (genotype_text(0), json.dumps({"stage1": 2.0})),
    )
    db.commit()
    db.close()
    page = page_of(client_for([run]), "old")
    assert page["status"]["message"] is None
    assert page["controller"] == [] and page["best"] == {"id": 0, "reward": 0.3}
    (row,) = page["candidates"]
    assert (row["latency_ms"], row["reused_from"], row["seconds"]) == (None, None, {"stage1": 2.0})
    detail = client_for([run]).get("/api/runs/old/candidates/0").json()
    assert detail["latency_ms"] is None and detail["describe"]["madds"] == 5


def test_a_search_not_started_yet_says_so(tmp_path, client_for):
    run = tmp_path / "fresh"
    run.mkdir()
    (run / "config.yaml").write_text("strategy: random\nbudget: 4\n")
    page = page_of(client_for([run]), "fresh")
    assert page["status"]["message"] == "no candidate started yet"
    assert page["candidates"] == [] and page["best"] is None
    assert page["meta"]["strategy"] == "random" and page["meta"]["budget"] == 4
    store = SearchStore(run / "search.sqlite")  # the search starts: the next poll shows it
    add_candidate(store, 0, "done")
    page = page_of(client_for([run]), "fresh")
    assert page["status"]["message"] is None and len(page["candidates"]) == 1
    store.close()


def test_new_candidates_and_late_decisions_appear_and_change_the_version(writing_run, client_for):
    run, store = writing_run
    client = client_for([run])
    first = page_of(client, "search-live")
    assert len(first["candidates"]) == 3
    add_candidate(store, 3, "running")
    second = page_of(client, "search-live")
    assert [r["status"] for r in second["candidates"]][-1] == "running"
    assert second["version"] != first["version"]
    store.finish(3, candidate_result(3, "done"))  # the decision is fed back later
    third = page_of(client, "search-live")
    assert third["candidates"][3]["decision"] is None
    store.set_decision(3, {"index": 3, "go_on": True, "reason": "above running average"})
    fourth = page_of(client, "search-live")
    assert fourth["candidates"][3]["decision"]["reason"] == "above running average"
    store.set_meta(STRATEGY_STATS, strategy_stats(8))
    assert len(page_of(client, "search-live")["controller"]) == 2


def test_conditional_poll_gets_304_until_the_store_changes(writing_run, client_for):
    run, store = writing_run
    client = client_for([run])
    etag = client.get("/api/runs/search-live").headers["etag"]
    for tag in (etag, etag.strip('"'), f"W/{etag}", f'"other", {etag}'):
        unchanged = client.get("/api/runs/search-live", headers={"If-None-Match": tag})
        assert unchanged.status_code == 304, tag
        assert unchanged.content == b"" and unchanged.headers["etag"] == etag
    stale = client.get("/api/runs/search-live", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200
    add_candidate(store, 3, "stopped")
    changed = client.get("/api/runs/search-live", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(changed.json()["candidates"]) == 4


def test_the_version_is_the_content_so_a_rebuild_keeps_it(search_run, client_for):
    client = client_for([search_run])
    etag = client.get("/api/runs/search-a").headers["etag"]
    client.app.state.pages.clear()
    assert client.get("/api/runs/search-a", headers={"If-None-Match": etag}).status_code == 304


def test_an_unchanged_store_is_not_read_again(search_run, client_for, monkeypatch):
    monkeypatch.setattr(pages, "RACY_SECONDS", 0.0)  # the store was written just now
    reads = []
    real = pages.read_store
    monkeypatch.setattr(pages, "read_store", lambda *a: reads.append(1) or real(*a))
    client = client_for([search_run])
    for _ in range(3):
        assert client.get("/api/runs/search-a").status_code == 200
    assert len(reads) == 1


def test_a_recent_write_is_not_trusted_to_the_stat(search_run, client_for, monkeypatch):
    reads = []
    real = pages.read_store
    monkeypatch.setattr(pages, "read_store", lambda *a: reads.append(1) or real(*a))
    client = client_for([search_run])
    for _ in range(2):  # written within RACY_SECONDS: a same-tick second write could hide
        client.get("/api/runs/search-a")
    assert len(reads) == 2


def test_candidate_detail_has_the_whole_row_and_its_description(search_run, client_for):
    client = client_for([search_run])
    k = MIXED.index("done")
    detail = client.get(f"/api/runs/search-a/candidates/{k}").json()
    design = parse(genotype_text(k))
    assert detail["describe"] == {
        "text": design.describe(),
        "canonical": str(design.normalized()),
        "params": 1_000_000 + 1000 * k,
        "madds": candidate_result(k, "done").madds,
    }
    expected = candidate_result(k, "done")
    assert detail["stage2_metrics"]["per_class_iou"] == expected.stage2_metrics["per_class_iou"]
    assert detail["seconds"] == expected.seconds
    assert detail["decision"]["go_on"] is True
    assert detail["diagram_url"] == f"/api/runs/search-a/candidates/{k}/diagram.svg"
    failed = client.get(f"/api/runs/search-a/candidates/{MIXED.index('failed')}").json()
    assert failed["reward"] is None and failed["failure"].endswith("second line")
    assert failed["traceback"].startswith("Traceback")


def test_the_diagram_is_the_designs_svg_and_is_cached(search_run, client_for):
    client = client_for([search_run])
    diagram_svg.cache_clear()
    response = client.get("/api/runs/search-a/candidates/0/diagram.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.startswith("<?xml") and genotype_text(0) in response.text
    client.get("/api/runs/search-a/candidates/0/diagram.svg")
    assert diagram_svg.cache_info().hits == 1


def test_unknown_runs_candidates_and_bad_genotypes_are_clear_errors(
    search_run, experiment_run, client_for
):
    client = client_for([search_run, experiment_run])
    cases = {
        "/api/runs/nope": (404, "no run named 'nope'"),
        "/api/runs/search-a/candidates/99": (404, "no candidate 99 in run 'search-a'"),
        "/api/runs/search-a/candidates/x1": (404, "no candidate 'x1'"),
        "/api/runs/search-a/candidates/99/diagram.svg": (404, "no candidate 99"),
        "/api/runs/ablation-a/candidates/0": (404, "is an experiment"),
        "/api/nothing-here": (404, "Not Found"),
    }
    for url, (status, words) in cases.items():
        response = client.get(url)
        assert response.status_code == status, url
        assert words in response.json()["error"], (url, response.text)
    store = SearchStore(search_run / "search.sqlite")
    store.start(20, "[[1, 2], [3]]")  # a genotype of no space this dashboard knows
    store.close()
    for url in ("/api/runs/search-a/candidates/20", "/api/runs/search-a/candidates/20/diagram.svg"):
        response = client.get(url)
        assert response.status_code == 422, url
        assert "does not parse" in response.json()["error"] or "cannot be drawn" in response.text


def test_a_damaged_store_shows_a_message_naming_it(tmp_path, client_for):
    run = tmp_path / "broken"
    run.mkdir()
    (run / "search.sqlite").write_bytes(b"this is not a database, just bytes " * 200)
    client = client_for([run])
    page = page_of(client, "broken")
    message = page["status"]["message"]
    assert str(run / "search.sqlite") in message and "not a readable search store" in message
    assert page["candidates"] == [] and page["counts"]["done"] == 0
    response = client.get("/api/runs/broken/candidates/0")
    assert response.status_code == 500 and "not a readable search store" in response.text


def test_a_locked_store_says_busy_and_keeps_the_rows_read_before(
    search_run, client_for, monkeypatch
):
    monkeypatch.setattr(pages, "BUSY_TIMEOUT_SECONDS", 0.05)
    client = client_for([search_run])
    before = page_of(client, "search-a")
    writer = sqlite3.connect(search_run / "search.sqlite", isolation_level=None)
    writer.execute("PRAGMA locking_mode=EXCLUSIVE")  # holds the lock until it closes
    writer.execute("INSERT INTO meta VALUES ('x', '1')")
    try:
        busy = page_of(client, "search-a")
        assert busy["status"]["message"] == store_read.BUSY_MESSAGE
        assert busy["candidates"] == before["candidates"]
        detail = client.get("/api/runs/search-a/candidates/0")
        assert detail.status_code == 503 and "busy" in detail.json()["error"]
    finally:
        writer.close()
    assert page_of(client, "search-a")["status"]["message"] is None


def test_reading_a_finished_store_changes_nothing_in_its_directory(search_run, client_for):
    """Neither the dashboard nor the store's own readers (`segnas report`, experiments) leave
    -wal / -shm files or touch the store: they all read through `store_read.read_store`."""
    files = sorted(search_run.iterdir())
    assert [p.name for p in files] == ["config.yaml", "search.sqlite"]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    client = client_for([search_run])
    for url in ("", "/candidates/0", "/candidates/0/diagram.svg"):
        assert client.get(f"/api/runs/search-a{url}").status_code == 200
    assert len(read_candidates(search_run / "search.sqlite")) == len(MIXED)
    assert STRATEGY_STATS in read_meta(search_run / "search.sqlite")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in search_run.iterdir()}
    assert after == before


def test_reading_a_store_being_written_never_writes_it(writing_run, client_for):
    run, store = writing_run
    client = client_for([run])
    main = run / "search.sqlite"
    stamp = (main.read_bytes(), main.stat().st_mtime_ns)
    page_of(client, "search-live")
    client.get("/api/runs/search-live/candidates/1")
    assert (main.read_bytes(), main.stat().st_mtime_ns) == stamp
    with pytest.raises(store_read.StoreDamaged, match="readonly"):
        store_read.read_store(main, lambda db: db.execute("DELETE FROM candidates"))


def test_experiment_page_has_its_text_summary_and_images(experiment_run, client_for):
    client = client_for([experiment_run])
    page = page_of(client, "ablation-a")
    assert page["kind"] == "experiment" and page["experiment"] == "ablation"
    assert page["markdown"].startswith("# Ablation")
    assert page["summary"] == {"setups": {"full": [0.41], "no-aux": [0.37]}}
    assert page["images"] == ["ablation_stage1.png", "ablation_stage2.png"]
    assert page["status"]["message"] is None
    image = client.get("/runs/ablation-a/files/ablation_stage1.png")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    etag = client.get("/api/runs/ablation-a").headers["etag"]
    assert client.get("/api/runs/ablation-a", headers={"If-None-Match": etag}).status_code == 304
    (experiment_run / "ablation.json").write_text("{not json")
    message = page_of(client, "ablation-a")["status"]["message"]
    assert str(experiment_run / "ablation.json") in message and "not readable as JSON" in message


def test_search_files_are_listed_and_served(search_run, client_for):
    (search_run / "report").mkdir()
    (search_run / "report" / "rewards.png").write_bytes(b"\x89PNG fake")
    (search_run / "report" / "notes.bin").write_bytes(b"no")
    client = client_for([search_run])
    assert page_of(client, "search-a")["files"] == ["report/rewards.png"]
    assert client.get("/runs/search-a/files/report/rewards.png").content == b"\x89PNG fake"
    assert client.get("/runs/search-a/files/config.yaml").text.startswith("# Resolved")


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "%2e%2e/outside.md",
        "..%2f..%2f..%2fetc%2fpasswd",
        "%2Fetc%2Fpasswd",
        "search.sqlite",
        "checkpoint.pt",
        "report/../../outside.md",
        "escape.md",
        "missing.png",
        "report",
    ],
)
def test_nothing_outside_the_run_or_not_a_report_file_is_served(path, search_run, client_for):
    (search_run.parent / "outside.md").write_text("secret outside the run")
    (search_run / "escape.md").symlink_to(search_run.parent / "outside.md")
    (search_run / "checkpoint.pt").write_bytes(b"weights")
    (search_run / "report").mkdir()
    response = client_for([search_run]).get(f"/runs/search-a/files/{path}")
    assert response.status_code == 404, path
    assert "error" in response.json()
    assert b"secret" not in response.content and b"root:" not in response.content


def test_the_page_and_its_static_files_are_served(search_run, client_for):
    client = client_for([search_run])
    index = client.get("/")
    assert index.status_code == 200 and "<html" in index.text.lower()
    missing = client.get("/static/no-such-file.js")
    assert missing.status_code == 404 and "error" in missing.json()


def test_values_json_cannot_carry_become_null(tmp_path, client_for):
    run = tmp_path / "nan"
    store = write_search_run(run, ["done", "stopped"], keep_open=True)
    assert store is not None
    store.set_decision(1, {"index": 1, "go_on": False, "p": float("nan"), "reason": "coin"})
    store.set_meta(STRATEGY_STATS, [{"first": 0, "count": 2, "baseline": float("inf")}])
    store.close()
    response = client_for([run]).get("/api/runs/nan")
    page = json.loads(response.text)  # plain JSON: no NaN or Infinity tokens
    assert "NaN" not in response.text and "Infinity" not in response.text
    assert page["candidates"][1]["decision"] is None  # not plain JSON: left out of the table
    assert page["candidates"][1]["status"] == "stopped-after-stage-1"
    detail = client_for([run]).get("/api/runs/nan/candidates/1")
    assert detail.status_code == 200 and "NaN" not in detail.text
    assert detail.json()["decision"] == {"index": 1, "go_on": False, "p": None, "reason": "coin"}
    assert page["controller"] == [{"first": 0, "count": 2, "baseline": None}]


SEGMENTS = ["..", ".", "", "report", "rewards.png", "search.sqlite", "escape.md", "%2e%2e", "/"]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6))
def test_a_file_path_resolves_inside_the_run_or_not_at_all(tmp_path_factory, parts):
    root = tmp_path_factory.getbasetemp() / "traversal"
    if not root.exists():
        (root / "run" / "report").mkdir(parents=True)
        (root / "run" / "report" / "rewards.png").write_bytes(b"png")
        (root / "run" / "search.sqlite").write_bytes(b"db")
        (root / "rewards.png").write_bytes(b"outside")
        (root / "run" / "escape.md").symlink_to(root / "rewards.png")
    (run,) = discover([root / "run"])
    found = run.file("/".join(parts))
    if found is not None:
        assert found.is_relative_to(run.root) and found.suffix in SERVED_SUFFIXES
        assert found == run.root / "report" / "rewards.png"


def test_live_updates_read_only_the_changed_rows_and_equal_a_fresh_read(
    writing_run, client_for, monkeypatch
):
    """Each kind of write a search makes (a start, a finish, a decision, a rerun after a resume
    that replaces a finished row, a store grown past the re-read limit) gives the same page as a
    dashboard that reads the store from scratch, and a small change reads only its rows."""
    run_dir, store = writing_run
    live = client_for([run_dir])
    fetched: list[int] = []
    real = data._changed_rows

    def counting(db, present, previous):
        rows = real(db, present, previous)
        if rows is not None:
            fetched.append(sum(previous.keys.get(row[1]) != row[1:] for row in rows))
        return rows

    monkeypatch.setattr(data, "_changed_rows", counting)

    def check(changed: int | None) -> None:
        fetched.clear()
        body = live.get("/api/runs/search-live").content
        fresh = client_for([run_dir]).get("/api/runs/search-live").content
        assert json.loads(body) == json.loads(fresh)
        assert fetched == ([] if changed is None else [changed])

    check(None)  # the first read is a whole pass
    store.start(3, genotype_text(3))
    check(1)
    store.finish(3, candidate_result(3, "done"))
    check(1)
    store.set_decision(3, decision_for(3, "done"))
    check(1)
    store.start(1, genotype_text(7))  # a resumed search reruns candidate 1 as another design
    store.finish(1, candidate_result(7, "failed"))
    check(1)
    assert json.loads(live.get("/api/runs/search-live").content)["candidates"][1]["status"] == (
        "failed"
    )
    monkeypatch.setattr(data, "REREAD_LIMIT", 2)
    for k in range(4, 8):
        add_candidate(store, k, "done")
    check(None)  # more than the limit changed: one pass again
