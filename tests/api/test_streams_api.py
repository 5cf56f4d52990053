"""Cameras through the real service: HTTP and WebSocket against a real RTSP camera."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.rtsp import RtspServer
from tests.service import ServiceProcess, free_port
from tracker_service.streams.policy import CANNOT_OPEN

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
API_KEY = "test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    data = tmp_path_factory.mktemp("streams-api") / "data"
    # The test cameras are on 127.0.0.1, which the destination policy refuses unless named.
    env = {"TRACKER_API_KEY": API_KEY, "TRACKER_STREAMS__ALLOWED_NETWORKS": '["127.0.0.0/8"]'}
    process = ServiceProcess(data, env).start()
    yield process
    process.stop()


def client(service: ServiceProcess) -> httpx.Client:
    return service.client(headers={"X-API-Key": API_KEY})


def wait_state(http: httpx.Client, stream_id: str, states: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stream = http.get(f"/v1/streams/{stream_id}").json()
        if stream["state"] in states:
            return stream
        time.sleep(0.3)
    raise TimeoutError(f"stream {stream_id} never reached {states}: {stream}")


async def read_events(url: str, until_identity: bool, timeout: float) -> list[dict]:
    events: list[dict] = []
    headers = {"X-API-Key": API_KEY}
    async with websockets.connect(url, open_timeout=20, additional_headers=headers) as socket:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
            events.append(message)
            tracks = message.get("tracks", [])
            if until_identity and any(t["identity_id"] is not None for t in tracks):
                break
    return events


def test_api_key_is_required(service: ServiceProcess) -> None:
    with service.client() as anonymous:
        refused = anonymous.get("/v1/streams")
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
        assert anonymous.get("/healthz").status_code == 200
    with client(service) as http:
        assert http.get("/v1/streams").status_code == 200
    with service.client(headers={"Authorization": f"Bearer {API_KEY}"}) as bearer:
        assert bearer.get("/v1/identities").status_code == 200


def test_camera_goes_live_with_identities_then_reconnects(
    service: ServiceProcess, rtsp_camera: RtspServer
) -> None:
    camera = rtsp_camera
    with client(service) as http:
        created = http.post("/v1/streams", json={"url": camera.url, "name": "entrance"})
        assert created.status_code == 201, created.text
        stream_id = created.json()["id"]
        live = wait_state(http, stream_id, {"live"}, timeout=60)
        assert live["name"] == "entrance"

        ws_url = f"ws://127.0.0.1:{service.port}/v1/streams/{stream_id}/events"
        events = asyncio.run(read_events(ws_url, until_identity=True, timeout=120))
        frames = [e for e in events if e["type"] == "frame"]
        assert frames and any(t["identity_id"] for t in frames[-1]["tracks"])
        assert all(e["lag_s"] < 5.0 for e in frames)

        frame = http.get(f"/v1/streams/{stream_id}/frame.jpg")
        assert frame.status_code == 200
        assert frame.headers["content-type"] == "image/jpeg"
        assert frame.content[:2] == b"\xff\xd8"
        with http.stream("GET", f"/v1/streams/{stream_id}/mjpeg") as mjpeg:
            assert mjpeg.headers["content-type"].startswith("multipart/x-mixed-replace")
            first = next(mjpeg.iter_bytes())
            assert first.startswith(b"--frame")

        metrics = http.get("/metrics").text
        assert f'tracker_stream_fps{{stream="{stream_id}"}}' in metrics
        assert "tracker_gallery_identities" in metrics

        camera.kill()
        wait_state(http, stream_id, {"reconnecting"}, timeout=60)
        camera.start()
        again = wait_state(http, stream_id, {"live"}, timeout=90)
        assert again["reconnects"] >= 1

        assert http.delete(f"/v1/streams/{stream_id}").status_code == 204
        assert http.get(f"/v1/streams/{stream_id}").status_code == 404


def test_unreachable_and_invalid_cameras(service: ServiceProcess) -> None:
    with client(service) as http:
        dead_url = f"rtsp://127.0.0.1:{free_port()}/nothing"
        dead = http.post("/v1/streams", json={"url": dead_url, "name": "dead"}).json()
        status = wait_state(http, dead["id"], {"reconnecting"}, timeout=60)
        # The caller learns that it cannot be opened; the operator's log says why.
        assert status["last_error"] == CANNOT_OPEN
        assert "connection refused" in service.log()
        bad = http.post("/v1/streams", json={"url": "ftp://camera/stream"})
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid_stream_url"
        malformed = http.post("/v1/streams", json={"address": "rtsp://x"})
        assert malformed.status_code == 422
        assert http.get("/healthz").status_code == 200
        assert http.delete(f"/v1/streams/{dead['id']}").status_code == 204
