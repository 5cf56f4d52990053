"""Item 1 of issue 13: where a stream from the API may point, checked before any connection.

The policy and the live source run without models. Targets are 127.0.0.1 only: a listener
that counts connections proves that a refused destination was never contacted.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.conftest import Listener, make_config
from tracker_service.config import Config
from tracker_service.streams.policy import CANNOT_OPEN, REFUSED, DestinationPolicy, PolicedSource
from tracker_service.streams.source import LiveSource
from tracker_service.streams.target import UnsupportedSourceError

LOOPBACK_ALLOWED = {"allowed_networks": ["127.0.0.0/8"], "open_timeout_s": 2, "read_timeout_s": 2}


def policy_for(tmp_path: Path, **streams: object) -> tuple[Config, DestinationPolicy]:
    config = make_config(tmp_path / "data", 8765, streams=dict(streams))
    return config, DestinationPolicy(config)


def wait_error(source: LiveSource, timeout_s: float = 20.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = source.status()
        if status.last_error:
            return status.last_error
        time.sleep(0.1)
    raise TimeoutError("the source reported no error")


def test_the_defaults_refuse_files_loopback_link_local_and_public(tmp_path: Path) -> None:
    _, policy = policy_for(tmp_path)
    for url in (
        "file:///etc/hostname",
        "/etc/hostname",
        "rtsp://127.0.0.1/cam",
        "rtsp://127.1.2.3:554/cam",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "rtsp://224.0.0.1/cam",
        "rtsp://0.0.0.0/cam",
        "http://[::ffff:127.0.0.1]/",
        "rtsp://8.8.8.8/cam",  # public: not a LAN camera unless configured
    ):
        with pytest.raises(UnsupportedSourceError, match=REFUSED):
            policy.admit(url)
    # LAN cameras pass (checked again, resolved, at connection time).
    assert policy.admit("rtsp://192.168.1.20:554/stream1") == "rtsp://192.168.1.20:554/stream1"
    assert policy.admit("rtsp://camera.lan/stream1") == "rtsp://camera.lan/stream1"


def test_special_addresses_need_an_explicit_network(tmp_path: Path) -> None:
    _, everywhere = policy_for(tmp_path, allowed_networks=["0.0.0.0/0", "::/0"])
    assert everywhere.admit("rtsp://8.8.8.8/cam")
    for url in ("rtsp://127.0.0.1/cam", "http://169.254.169.254/", "http://[::1]/"):
        with pytest.raises(UnsupportedSourceError):
            everywhere.admit(url)
    _, loopback = policy_for(tmp_path, allowed_networks=["127.0.0.0/8"])
    assert loopback.admit("rtsp://127.0.0.1:8554/cam")
    # The service's own port stays refused, whatever the networks say.
    with pytest.raises(UnsupportedSourceError):
        loopback.admit("http://127.0.0.1:8765/v1/jobs")


def test_files_only_under_the_roots_and_never_the_data_folder(tmp_path: Path) -> None:
    roots = tmp_path / "videos"
    (roots / "sub").mkdir(parents=True)
    config, policy = policy_for(tmp_path, file_roots=[str(roots), str(tmp_path)])
    assert policy.admit(str(roots / "sub" / "a.mp4")) == (roots / "sub" / "a.mp4").as_uri()
    link = roots / "escape.mp4"
    link.symlink_to("/etc/hostname")
    for path in (
        str(roots / ".." / ".." / "etc" / "hostname"),
        str(link),  # a link out of the roots is where it points
        str(config.data_dir / "jobs" / "1" / "input.mp4"),  # inside a root, but the data
        "file:///etc/hostname",
    ):
        with pytest.raises(UnsupportedSourceError, match=REFUSED):
            policy.admit(path)


def test_a_name_resolving_to_loopback_is_refused_before_any_connection(
    tmp_path: Path, listener: Listener
) -> None:
    _, policy = policy_for(tmp_path)
    url = policy.admit(f"rtsp://localhost:{listener.port}/cam")
    source = PolicedSource(url, make_config(tmp_path, 1).streams, policy=policy)
    source.start()
    try:
        assert wait_error(source) == REFUSED
    finally:
        source.stop(5)
    assert listener.connections == 0


def test_open_and_closed_ports_read_the_same(tmp_path: Path, listener: Listener) -> None:
    config, policy = policy_for(tmp_path, **LOOPBACK_ALLOWED)
    closed = Listener()
    closed.close()  # a port nobody listens on any more
    errors = []
    for port in (listener.port, closed.port):
        source = PolicedSource(f"rtsp://127.0.0.1:{port}/cam", config.streams, policy=policy)
        source.start()
        try:
            errors.append(wait_error(source))
        finally:
            source.stop(5)
    assert errors == [CANNOT_OPEN, CANNOT_OPEN]
    assert listener.connections >= 1  # it was allowed, and tried


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector(listener: Listener) -> Iterator[http.server.HTTPServer]:
    handler = type("Redirect", (_Redirect,), {"target": f"http://127.0.0.1:{listener.port}/x"})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_redirects_are_not_followed(
    tmp_path: Path, listener: Listener, redirector: http.server.HTTPServer
) -> None:
    config, policy = policy_for(tmp_path, **LOOPBACK_ALLOWED)
    port = redirector.server_address[1]
    source = PolicedSource(f"http://127.0.0.1:{port}/video.mjpg", config.streams, policy=policy)
    source.start()
    try:
        assert wait_error(source) == CANNOT_OPEN
    finally:
        source.stop(5)
    assert listener.connections == 0  # the redirect's target was never contacted
