"""`segnas dashboard`: serve a read-only web view of run directories while searches write them.

Starlette and uvicorn come with the optional `dashboard` extra and are imported only when the
command runs, so the rest of `segnas` works without them.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

EXTRA_MISSING = "segnas dashboard needs the dashboard extra: pip install 'segnas[dashboard]'"
LOCAL_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether `host` binds to this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def cmd_dashboard(args: argparse.Namespace) -> int:
    if args.poll <= 0:
        raise ValueError(f"--poll: got {args.poll}, expected seconds > 0")
    if not 0 < args.port < 65536:
        raise ValueError(f"--port: got {args.port}, expected 1..65535")
    try:
        import uvicorn

        from segnas.dashboard.app import create_app
    except ImportError:
        print(f"segnas dashboard: error: {EXTRA_MISSING}", file=sys.stderr)
        return 2
    app = create_app(args.run_dirs, poll_seconds=args.poll)  # refuses a path that is no run
    if not is_loopback(args.host):
        print(
            f"segnas dashboard: warning: binding {args.host}: anyone who can reach this machine "
            "can read these runs (no password); use the default 127.0.0.1 to keep it local",
            file=sys.stderr,
        )
    for run in app.state.dashboard.runs.values():  # the first view need not build a page
        app.state.pages.page(run)
    runs = ", ".join(run.name for run in app.state.dashboard.runs.values())
    print(f"segnas dashboard: {runs} at {url_of(args.host, args.port)} (Ctrl-C stops it)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_dashboard_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="web view of search and experiment runs, live while they run (read-only)",
    )
    p.add_argument(
        "run_dirs",
        metavar="RUN_DIR",
        nargs="+",
        help="search or experiment run directories to show",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument(
        "--poll",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often the page asks for new candidates (default 2)",
    )
    p.set_defaults(func=cmd_dashboard)
