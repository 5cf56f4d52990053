"""Item 4 of issue 13: a page on another site must not drive the service from a browser.

DNS rebinding (a foreign Host header) and cross-site writes (an Origin header of another
site) are refused before any route runs; the console is served with headers that forbid
framing and foreign scripts. No models are needed: the app runs without services.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.security.conftest import AppServer, make_config, serve
from tests.service import free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AppServer]:
    config = make_config(
        tmp_path / "data", free_port(), service={"allowed_origins": ["https://ops.example"]}
    )
    with serve(config) as running:
        yield running


def test_a_foreign_host_name_is_refused(server: AppServer) -> None:
    with server.client() as client:
        refused = client.get("/v1/identities", headers={"Host": "evil.example"})
        assert refused.status_code == 400
        assert refused.json()["code"] == "untrusted_host"
        # The local names are answered (503: this app has no models, past the guard).
        for host in ("localhost", f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
            assert client.get("/v1/identities", headers={"Host": host}).status_code == 503
        # Probes answer whatever name the orchestrator uses.
        assert client.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200


def test_cross_site_writes_are_refused_and_same_site_ones_pass(server: AppServer) -> None:
    with server.client() as client:
        files = {"file": ("a.mp4", b"x" * 10, "video/mp4")}
        foreign = client.post("/v1/videos", files=files, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        assert foreign.json()["code"] == "cross_origin"
        null = client.delete("/v1/jobs/x", headers={"Origin": "null"})
        assert null.status_code == 403
        own = client.post("/v1/videos", files=files, headers={"Origin": server.url})
        assert own.status_code == 503  # past the guard: the app has no models
        listed = client.post("/v1/videos", files=files, headers={"Origin": "https://ops.example"})
        assert listed.status_code == 503
        # Reads from another site are not writes (CORS keeps their answers from the page).
        assert client.get("/healthz", headers={"Origin": "https://evil.example"}).status_code == 200


def guard_refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tracker_service.api.guard"]


def test_cross_site_websockets_are_refused(
    server: AppServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"ws://127.0.0.1:{server.port}/v1/streams/abc/events"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin="https://evil.example", open_timeout=10).close()  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    assert len(guard_refusals(caplog)) == 1
    # The same origin passes the guard (the route itself then closes: no models loaded).
    with pytest.raises(InvalidStatus):
        connect(url, origin=server.url, open_timeout=10).close()  # type: ignore[arg-type]
    assert len(guard_refusals(caplog)) == 1


def test_the_console_forbids_framing_and_foreign_scripts(server: AppServer) -> None:
    with server.client() as client:
        page = client.get("/ui/")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "default-src 'self'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        api = client.get("/v1/jobs")
        assert api.headers["x-frame-options"] == "DENY"
