"""The dashboard in a real browser: Playwright driving Debian's chromium against the real app
served by uvicorn, on run directories written by the tests (one server and one browser for the
module, one page per test)."""

from __future__ import annotations

import http.client
import importlib.util
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.browser_support import CHROMIUM_ARGS, chromium_path, serve, write_showcase_run
from tests.fixtures.dashboard_runs import (
    MIXED,
    add_candidate,
    candidate_result,
    reward_of,
    write_experiment_run,
    write_search_run,
)
from tests.fixtures.search_runs import genotype_text

SKIP_REASON = (
    "needs Debian's chromium (apt-get install chromium) and playwright (pip install 'segnas[test]')"
)
CHROMIUM = chromium_path()
if CHROMIUM is None or any(
    importlib.util.find_spec(name) is None for name in ("playwright", "starlette", "uvicorn")
):
    if os.environ.get("SEGNAS_REQUIRE_BROWSER"):  # CI (.ci/run): these tests must run there
        pytest.fail(f"SEGNAS_REQUIRE_BROWSER is set but: {SKIP_REASON}", pytrace=False)
    pytest.skip(SKIP_REASON, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

POLL_SECONDS = 0.25
"""Fast polling so that live updates show within a fraction of a second."""
VIEWPORT = {"width": 1400, "height": 1000}
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "figures" / "dashboard.png"
SCORED = ("done", "stopped")
DIAGRAM_LOADED = """() => {
  const img = document.querySelector('#design img.diagram');
  return img !== null && img.complete && img.naturalWidth > 0;
}"""


class Runs:
    """The module's run directories (names in URLs are the directory names)."""

    def __init__(self, root: Path) -> None:
        self.mixed = root / "search-mixed"
        write_search_run(self.mixed, MIXED)
        self.live = root / "search-live"
        self.store = write_search_run(self.live, ("done", "stopped", "done"), keep_open=True)
        self.ablation = write_experiment_run(root / "ablation")
        markdown = self.ablation / "experiment.md"
        markdown.write_text(
            markdown.read_text(encoding="utf-8") + "\n![stage 1](ablation_stage1.png)\n",
            encoding="utf-8",
        )
        self.damaged = root / "search-damaged"
        write_search_run(self.damaged, ("done",))
        self.showcase = root / "search-ppo"
        write_showcase_run(self.showcase)

    def all(self) -> list[Path]:
        return [self.showcase, self.mixed, self.live, self.ablation, self.damaged]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    runs = Runs(tmp_path_factory.mktemp("dashboard-runs"))
    yield runs
    assert runs.store is not None
    runs.store.close()


@pytest.fixture(scope="module")
def server(runs: Runs) -> Iterator[str]:
    from segnas.dashboard.app import create_app

    app = create_app(runs.all(), poll_seconds=POLL_SECONDS)
    # A store that goes bad while the dashboard serves it.
    (runs.damaged / "search.sqlite").write_bytes(b"this is not a database\x00" * 64)
    for extra in runs.damaged.glob("search.sqlite-*"):
        extra.unlink()
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    """A fresh page; the test fails if the page's script throws."""
    context = browser.new_context(viewport=VIEWPORT, base_url=server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"the page's script failed: {errors}"


def open_run(page: Page, name: str) -> None:
    page.goto(f"/#run={name}")
    expect(page.locator(f'#run-picker [data-run="{name}"]')).to_have_class("tab active")


def column(page: Page, key: str) -> list[str]:
    """The texts of one column of the shown rows, top to bottom."""
    return page.eval_on_selector(
        "#candidates",
        """(table, key) => {
          const index = [...table.tHead.rows[0].cells].findIndex((th) => th.dataset.key === key);
          return [...table.tBodies[0].rows].map((row) => row.cells[index].textContent.trim());
        }""",
        key,
    )


def test_live_run_grows_without_reload(page: Page, runs: Runs) -> None:
    open_run(page, "search-live")
    expect(page.locator("#candidate-count")).to_have_text("3")
    page.evaluate("window.__notReloaded = 'still here'")
    page.click('th[data-key="reward"]')
    page.click('#candidates tr[data-id="1"]')
    expect(page.locator("#design h2")).to_contain_text("Candidate #1")

    assert runs.store is not None
    add_candidate(runs.store, 3, "done")
    add_candidate(runs.store, 4, "running")
    expect(page.locator("#candidate-count")).to_have_text("5")
    expect(page.locator('#candidates tr[data-id="4"] .pill')).to_have_text("running")
    runs.store.finish(4, candidate_result(4, "failed"))
    expect(page.locator('#candidates tr[data-id="4"] .pill')).to_have_text("failed")

    assert page.evaluate("window.__notReloaded") == "still here"
    expect(page.locator('th[data-key="reward"]')).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#candidates tr.selected")).to_have_attribute("data-id", "1")
    expect(page.locator("#design h2")).to_contain_text("Candidate #1")
    scored = sorted(reward_of(k) for k in (0, 1, 2, 3))
    assert column(page, "reward") == [f"{r:.4f}" for r in scored] + ["—"]


def test_sorting_by_reward_and_filtering_by_status(page: Page) -> None:
    open_run(page, "search-mixed")
    expect(page.locator("#candidate-count")).to_have_text(str(len(MIXED)))
    scored = sorted(reward_of(k) for k, status in enumerate(MIXED) if status in SCORED)
    unscored = len(MIXED) - len(scored)
    header = page.locator('th[data-key="reward"]')

    header.click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert column(page, "reward") == [f"{r:.4f}" for r in scored] + ["—"] * unscored
    header.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    assert column(page, "reward") == [f"{r:.4f}" for r in reversed(scored)] + ["—"] * unscored
    best = max(range(len(MIXED)), key=lambda k: reward_of(k) if MIXED[k] in SCORED else -1)
    assert page.locator("#candidates tbody tr").first.get_attribute("data-id") == str(best)

    page.select_option("#status-filter", "failed")
    failed = [str(k) for k, status in enumerate(MIXED) if status == "failed"]
    expect(page.locator("#candidate-count")).to_have_text(str(len(failed)))
    assert column(page, "status") == ["failed"] * len(failed)
    page.select_option("#status-filter", "all")
    expect(page.locator("#candidate-count")).to_have_text(str(len(MIXED)))


def test_a_row_opens_its_design(page: Page) -> None:
    open_run(page, "search-mixed")
    page.click('#candidates tr[data-id="0"]')
    page.wait_for_function(DIAGRAM_LOADED)
    describe = page.locator("#design .describe")
    expect(describe).to_contain_text(genotype_text(0))
    expect(describe).to_contain_text("connectivity:")
    expect(page.locator("#design")).to_contain_text("per_class_iou")
    expect(page.locator("#design")).to_contain_text("first candidate")
    assert page.evaluate("location.hash") == "#run=search-mixed&c=0"

    failed = MIXED.index("failed")
    page.click(f'#candidates tr[data-id="{failed}"]')
    expect(page.locator("#design .failure")).to_contain_text("CUDA out of memory")
    expect(page.locator("#design details")).to_contain_text("traceback")
    page.click("#design button.close")
    expect(page.locator("#candidates tr.selected")).to_have_count(0)


TRAVERSALS = (
    "../../etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "search.sqlite",
    "config.yaml/../search.sqlite",
)


def test_traversal_attempts_are_refused(page: Page, server: str) -> None:
    open_run(page, "search-mixed")
    for attempt in TRAVERSALS:
        answer = page.evaluate(
            """async (url) => {
              const response = await fetch(url);
              return { status: response.status, body: await response.text() };
            }""",
            f"/runs/search-mixed/files/{attempt}",
        )
        assert answer["status"] == 404, attempt
        assert "root:" not in answer["body"] and "SQLite format" not in answer["body"], attempt
    # The browser normalises `..` before sending; a raw client sends it as written.
    host, port = server.removeprefix("http://").split(":")
    for attempt in TRAVERSALS:
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", f"/runs/search-mixed/files/{attempt}")
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status == 404, attempt
        assert b"root:" not in body and b"SQLite format" not in body, attempt
    assert page.request.get("/runs/search-mixed/files/config.yaml").ok


def test_an_experiment_shows_its_tables_and_images(page: Page) -> None:
    open_run(page, "ablation")
    experiment = page.locator("#experiment")
    expect(experiment).to_be_visible()
    expect(experiment.locator(".markdown h2")).to_have_text("Ablation")
    expect(experiment.locator("table td", has_text="no-aux")).to_be_visible()
    images = experiment.locator("img")
    expect(images).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#experiment img')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    sources = sorted(images.evaluate_all("images => images.map((img) => img.src)"))
    assert [s.rsplit("/", 1)[1] for s in sources] == ["ablation_stage1.png", "ablation_stage2.png"]
    expect(page.locator("#search-view")).to_be_hidden()


def test_a_damaged_store_shows_a_message_not_a_trace(page: Page) -> None:
    open_run(page, "search-damaged")
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("search.sqlite")
    assert "Traceback" not in page.locator("body").inner_text()

    open_run(page, "search-mixed")
    expect(banner).to_be_hidden()
    page.route("**/api/runs/search-mixed", lambda route: route.abort())
    expect(banner).to_contain_text("lost contact with the server", ignore_case=True)
    page.unroute("**/api/runs/search-mixed")
    expect(banner).to_be_hidden()


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_screenshot_of_a_search_with_a_design_open(page: Page, tmp_path: Path) -> None:
    """`SEGNAS_SCREENSHOT=1` writes the README's picture, docs/figures/dashboard.png."""
    open_run(page, "search-ppo")
    expect(page.locator("#candidate-count")).to_have_text("60")
    expect(page.locator("#chart-controller svg circle").first).to_be_visible()
    best = page.locator("#candidates tr.best").get_attribute("data-id")
    page.click(f'#candidates tr[data-id="{best}"]')
    page.wait_for_function(DIAGRAM_LOADED)
    for chart in ("rewards", "stages", "pareto", "controller"):
        expect(page.locator(f"#chart-{chart} svg")).to_be_visible()
    path = SCREENSHOT if os.environ.get("SEGNAS_SCREENSHOT") == "1" else tmp_path / "dashboard.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    assert png_size(path) == (VIEWPORT["width"], VIEWPORT["height"])
    assert path.stat().st_size > 50_000, "the screenshot looks blank"
