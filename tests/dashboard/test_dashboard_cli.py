"""`segnas dashboard`: safe defaults, clear refusals, and the server started on the named runs
(uvicorn replaced by a recorder, so no port is opened)."""

from __future__ import annotations

import sys

import pytest

from segnas.cli import build_parser, main
from segnas.cli.dashboard import EXTRA_MISSING, is_loopback, url_of
from tests.fixtures.dashboard_runs import write_search_run


@pytest.fixture
def served(monkeypatch) -> list[dict]:
    """What `uvicorn.run` was asked to serve, instead of serving it."""
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    return calls


def test_defaults_bind_to_this_machine_only():
    args = build_parser().parse_args(["dashboard", "runs/a", "runs/b"])
    assert (args.run_dirs, args.host, args.port, args.poll) == (
        ["runs/a", "runs/b"],
        "127.0.0.1",
        8000,
        2.0,
    )
    assert not hasattr(args, "device")


def test_serves_the_named_runs_and_prints_the_url(tmp_path, served, capsys):
    run = tmp_path / "search-a"
    write_search_run(run, ["done"])
    assert main(["dashboard", str(run), "--port", "8123", "--poll", "0.5"]) == 0
    (call,) = served
    assert (call["host"], call["port"]) == ("127.0.0.1", 8123)
    assert list(call["app"].state.dashboard.runs) == ["search-a"]
    assert call["app"].state.dashboard.poll_seconds == 0.5
    assert call["app"].state.pages._entries["search-a"].page is not None  # built before serving
    out = capsys.readouterr()
    assert "http://127.0.0.1:8123/" in out.out and "warning" not in out.err


def test_a_non_loopback_address_is_served_with_a_warning(tmp_path, served, capsys):
    run = tmp_path / "search-a"
    write_search_run(run, ["done"])
    assert main(["dashboard", str(run), "--host", "0.0.0.0"]) == 0
    assert served[0]["host"] == "0.0.0.0"
    err = capsys.readouterr().err
    assert "warning: binding 0.0.0.0" in err and "127.0.0.1" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.7", False),
     ("example.org", False)],
)  # fmt: skip
def test_loopback_addresses_are_told_apart(host, loopback):
    assert is_loopback(host) is loopback


def test_the_url_brackets_an_ipv6_address():
    assert url_of("::1", 8000) == "http://[::1]:8000/"
    assert url_of("127.0.0.1", 80) == "http://127.0.0.1:80/"


def test_a_missing_directory_or_one_that_is_no_run_is_refused(tmp_path, served, capsys):
    assert main(["dashboard", str(tmp_path / "nope")]) == 2
    assert f"{tmp_path / 'nope'}: no such directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["dashboard", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'empty'}: not a run directory" in err and "search.sqlite" in err
    assert served == []


@pytest.mark.parametrize(("flag", "value"), [("--poll", "0"), ("--port", "70000")])
def test_bad_poll_or_port_is_refused(tmp_path, served, capsys, flag, value):
    run = tmp_path / "search-a"
    write_search_run(run, ["done"])
    assert main(["dashboard", str(run), flag, value]) == 2
    assert f"{flag}: got" in capsys.readouterr().err and served == []


def test_without_the_extra_the_command_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    assert main(["dashboard", str(tmp_path)]) == 2
    assert EXTRA_MISSING in capsys.readouterr().err
