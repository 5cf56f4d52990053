"""Item 2 of issue 13: the API key never reaches a log line, and the console needs no key in
its URLs (a login sets an HttpOnly session cookie that media and WebSockets carry)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.security.conftest import API_KEY, AppServer, make_config, serve
from tests.service import ServiceProcess, free_port
from tracker_service.api.auth import SESSION_COOKIE

# URLs the console opens without headers: images, video, MJPEG, a WebSocket.
MEDIA_PATHS = (
    "/v1/identities/1/thumbnail.jpg",
    "/v1/jobs/abc/video",
    "/v1/streams/abc/frame.jpg",
    "/v1/streams/abc/mjpeg",
)


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[AppServer]:
    config = make_config(tmp_path / "data", free_port(), service={"api_key": API_KEY})
    with serve(config) as running:
        yield running


def test_a_login_sets_a_strict_http_only_session_that_media_urls_carry(keyed: AppServer) -> None:
    with keyed.client() as client:
        for path in MEDIA_PATHS:
            assert client.get(path).status_code == 401
        assert (
            client.post("/v1/session", json={"api_key": "wrong-key-0123456789"}).status_code == 401
        )
        login = client.post("/v1/session", json={"api_key": API_KEY})
        assert login.status_code == 204
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=" in cookie
        assert API_KEY.lower() not in cookie  # a signed token, not the key
        for path in MEDIA_PATHS:  # past authentication: "not ready" (no models here)
            assert client.get(path).status_code == 503, path
        assert client.delete("/v1/session").status_code == 204
        assert client.get(MEDIA_PATHS[0]).status_code == 401


def test_a_forged_or_foreign_session_is_refused(keyed: AppServer, tmp_path: Path) -> None:
    with keyed.client() as client:
        client.cookies.set(SESSION_COOKIE, "abc.def.ghi")
        forged = client.get(MEDIA_PATHS[0])
        assert forged.status_code == 401
    # A session signed under another key is worthless here.
    other = make_config(
        tmp_path / "other", free_port(), service={"api_key": "another-key-987654321"}
    )
    with serve(other) as second, second.client() as client:
        client.post("/v1/session", json={"api_key": "another-key-987654321"})
        token = client.cookies[SESSION_COOKIE]
    with keyed.client() as client:
        client.cookies.set(SESSION_COOKIE, token)
        assert client.get(MEDIA_PATHS[0]).status_code == 401


def test_a_keyed_service_writes_no_key_to_its_logs(tmp_path: Path) -> None:
    """The real `tracker-service serve`, driven the way the console and old clients do."""
    env = {"TRACKER_API_KEY": API_KEY, "TRACKER_DETECTOR": str(tmp_path / "no-model.pt")}
    service = ServiceProcess(tmp_path / "data", env).start(wait_ready=False)
    try:
        service.wait(ready=False, timeout_s=120)
        with httpx.Client(base_url=service.url, timeout=30) as client:
            client.post("/v1/session", json={"api_key": API_KEY})
            client.post("/v1/session", json={"api_key": "wrong-key-0123456789"})
            for path in MEDIA_PATHS:
                client.get(path)
                client.get(path, params={"api_key": API_KEY})  # an old client's habit
            client.get("/v1/jobs", headers={"X-API-Key": API_KEY})
            client.get("/v1/jobs", headers={"Authorization": f"Bearer {API_KEY}"})
        for query in ("", f"?api_key={API_KEY}"):
            url = f"ws://127.0.0.1:{service.port}/v1/streams/abc/events{query}"
            with contextlib.suppress(InvalidStatus):
                connect(url, open_timeout=10).close()
    finally:
        service.stop()
    log = service.log_path.read_text(errors="replace")
    assert "/v1/jobs/abc/video" in log  # the requests were logged...
    assert API_KEY not in log  # ...without the key
    assert not re.search(r"api_key=(?!\*\*\*)", log)
