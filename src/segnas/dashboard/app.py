"""The dashboard's web app: the page, its JSON API and the runs' figures, read-only.

Every answer that is not the page or a file is JSON; every error is `{"error": message}` with
its status, never a trace. Routes (listed in `create_app`) take a run by its name from
`discover`, so only the named directories are reachable, and files only through
`RunDirectory.file`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from segnas.dashboard import pages
from segnas.dashboard.designs import (
    DesignError,
    candidate_detail,
    diagram_svg,
    read_candidate,
    read_genotype,
)
from segnas.dashboard.pages import Pages, read_settings
from segnas.dashboard.runs import RunDirectory, discover
from segnas.search.store_read import StoreBusy, StoreDamaged, read_store

STATIC = Path(__file__).parent / "static"
NO_STORE = {"Cache-Control": "no-cache"}
"""Page data and API answers: the browser asks again (with If-None-Match) every time."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=NO_STORE)


def _etag_matches(request: Request, version: str) -> bool:
    """Whether If-None-Match names `version` (a list, weak tags and `*` as HTTP allows)."""
    given = request.headers.get("if-none-match")
    if not given:
        return False
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in given.split(",")}
    return version in tags or "*" in tags


class Dashboard:
    """The served runs and their caches; each method is one route."""

    def __init__(self, runs: Sequence[RunDirectory], poll_seconds: float) -> None:
        self.runs = {run.name: run for run in runs}
        self.poll_seconds = poll_seconds
        self.pages = Pages()

    def run(self, request: Request, kind: str | None = None) -> RunDirectory:
        name = request.path_params["name"]
        run = self.runs.get(name)
        if run is None:
            raise HTTPException(404, f"no run named {name!r} (runs: {', '.join(self.runs)})")
        if kind is not None and run.kind != kind:
            raise HTTPException(404, f"run {name!r} is an {run.kind}: it has no candidates")
        return run

    def candidate_id(self, request: Request, run: RunDirectory) -> int:
        raw = request.path_params["id"]
        if not raw.isdigit():
            raise HTTPException(
                404, f"no candidate {raw!r} in run {run.name!r} (ids are 0, 1, ...)"
            )
        return int(raw)

    def index(self, request: Request) -> Response:
        page = STATIC / "index.html"
        if not page.is_file():
            return _error(404, f"{page}: the dashboard's page is missing from the package")
        return FileResponse(page, headers=NO_STORE)

    def config(self, request: Request) -> Response:
        return JSONResponse({"poll_seconds": self.poll_seconds}, headers=NO_STORE)

    def list_runs(self, request: Request) -> Response:
        runs = [{"name": r.name, "kind": r.kind, "path": str(r.path)} for r in self.runs.values()]
        return JSONResponse({"runs": runs}, headers=NO_STORE)

    def page(self, request: Request) -> Response:
        page = self.pages.page(self.run(request))
        headers = {**NO_STORE, "ETag": f'"{page.version}"'}
        if _etag_matches(request, page.version):
            return Response(status_code=304, headers=headers)
        return Response(page.body, media_type="application/json", headers=headers)

    def _read(self, run: RunDirectory, read: Callable[[Any], Any]) -> Any:
        if not run.store.is_file():
            raise HTTPException(404, f"run {run.name!r} has no candidate yet (no search.sqlite)")
        try:
            return read_store(run.store, read, pages.BUSY_TIMEOUT_SECONDS)
        except StoreBusy as busy:
            raise HTTPException(503, str(busy)) from busy
        except StoreDamaged as damaged:
            raise HTTPException(500, str(damaged)) from damaged

    def _one(
        self, request: Request, read: Callable[[Any, int], Any]
    ) -> tuple[RunDirectory, int, Any]:
        """The run, the candidate's index and `read(db, index)`'s (value, space); 404 when the
        value is None (no such candidate)."""
        run = self.run(request, "search")
        index = self.candidate_id(request, run)
        value, space = self._read(run, lambda db: read(db, index))
        if value is None:
            raise HTTPException(404, f"no candidate {index} in run {run.name!r}")
        return run, index, (value, space)

    def candidate(self, request: Request) -> Response:
        run, index, (row, space) = self._one(request, read_candidate)
        url = f"/api/runs/{run.name}/candidates/{index}/diagram.svg"
        try:
            detail = candidate_detail(row, space, url)
        except DesignError as error:
            raise HTTPException(422, str(error)) from error
        return JSONResponse(detail, headers=NO_STORE)

    def diagram(self, request: Request) -> Response:
        run, _, (genotype, space) = self._one(request, read_genotype)
        encoder = str(read_settings(run)[0].get("encoder") or "")
        try:
            svg = diagram_svg(genotype, space, encoder)
        except DesignError as error:
            raise HTTPException(422, str(error)) from error
        return Response(svg, media_type="image/svg+xml")

    def file(self, request: Request) -> Response:
        run = self.run(request)
        relative = request.path_params["path"]
        path = run.file(relative)
        if path is None:
            raise HTTPException(
                404,
                f"{relative!r}: not a file of run {run.name!r} that the dashboard serves "
                "(figures, diagrams, summaries, reports and settings inside the run only)",
            )
        return FileResponse(path, headers=NO_STORE)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _error(error.status_code, str(error.detail))


async def _server_error(request: Request, error: Exception) -> Response:
    return _error(500, f"the dashboard failed: {type(error).__name__}: {error}")


def create_app(run_dirs: Sequence[str | Path], poll_seconds: float = 2.0) -> Starlette:
    """The app over `run_dirs` (raises NotARunDirectory naming a path that is not a run)."""
    d = Dashboard(discover(run_dirs), poll_seconds)
    routes = [
        Route("/", d.index),
        Route("/api/config", d.config),
        Route("/api/runs", d.list_runs),
        Route("/api/runs/{name}", d.page),
        Route("/api/runs/{name}/candidates/{id}", d.candidate),
        Route("/api/runs/{name}/candidates/{id}/diagram.svg", d.diagram),
        Route("/runs/{name}/files/{path:path}", d.file),
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.dashboard = d
    app.state.pages = d.pages
    return app
