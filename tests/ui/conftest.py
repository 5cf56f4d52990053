"""Fixtures of the web console tests: Debian's Chromium driven by Playwright, screenshots.

Playwright's own browser download does not work offline, so the tests use the system's
Chromium (`scripts/install-system-deps.sh browser`) and skip with the reason without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "artifacts" / "ui"
# Chromium as root in a container, on a closed network: no sandbox, no GPU, no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so that fixtures can see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run `scripts/install-system-deps.sh browser`")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class PageErrors:
    """Uncaught errors of a page's scripts: the console must not fail silently."""

    def __init__(self) -> None:
        self.uncaught: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.uncaught.append(str(error)))


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(
    browser: Any, request: pytest.FixtureRequest, artifacts_dir: Path, page_errors: PageErrors
) -> Iterator[Any]:
    """A fresh page (own storage); on failure its screenshot is kept as failed-<test>.png."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page_errors.attach(page)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(artifacts_dir / f"failed-{request.node.name}.png"), full_page=True)
    context.close()
    assert not page_errors.uncaught, f"uncaught errors in the page: {page_errors.uncaught}"
