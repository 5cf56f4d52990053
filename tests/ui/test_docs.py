"""`/docs` renders with the network blocked: Swagger UI comes from the service itself.

Every request the page makes to anything but the service on 127.0.0.1 is aborted (route
interception), as on an air-gapped site; the page must still show the API's operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.service import ServiceProcess


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    # Not waiting for the models: /docs must work while they load, or when they cannot.
    process = ServiceProcess(tmp_path_factory.mktemp("docs-service") / "data").start(
        wait_ready=False
    )
    process.wait(ready=False)
    yield process
    process.stop()


def test_docs_render_offline(page: Any, service: ServiceProcess, artifacts_dir: Path) -> None:
    blocked: list[str] = []

    def only_the_service(route: Any) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto(f"{service.url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/videos" in paths
    assert "/v1/streams" in paths
    assert page.locator(".info .title").inner_text().startswith("tracker-service")
    page.screenshot(path=str(artifacts_dir / "docs-offline.png"), full_page=False)
    assert blocked == [], f"the page asked the internet for {blocked}"
