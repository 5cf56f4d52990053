"""The security suite: the real app on 127.0.0.1, attacked the way a probe attacked it.

Everything here talks only to 127.0.0.1. The app runs in a real uvicorn server in a thread;
tests that need the models share one load per session (the shared YOLOv8n and OSNet).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from tracker_service.api import create_app
from tracker_service.api.services import Services, build_services
from tracker_service.config import Config, merge_trees
from tracker_service.runtime import Models, load_models

API_KEY = "security-suite-key-0123456789"
START_TIMEOUT_S = 20.0


class Listener:
    """A TCP port on 127.0.0.1 that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def make_config(data_dir: Path, port: int, **sections: dict[str, Any]) -> Config:
    tree: dict[str, Any] = {
        "data_dir": str(data_dir),
        "service": {"host": "127.0.0.1", "port": port},
    }
    return Config.model_validate(merge_trees(tree, sections))


class AppServer:
    """`create_app(config, services)` served by uvicorn on 127.0.0.1 in a thread."""

    def __init__(self, config: Config, services: Services | None) -> None:
        self.config = config
        self.port = config.service.port
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(config, services)
        # Without services there is nothing to load: no lifespan, /v1 answers "not ready".
        lifespan = "on" if services is not None else "off"
        server_config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, lifespan=lifespan
        )
        self.server = uvicorn.Server(server_config)
        self.thread = threading.Thread(target=asyncio.run, args=(self.server.serve(),))

    def __enter__(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)


@contextmanager
def serve(config: Config, services: Services | None = None) -> Iterator[AppServer]:
    with AppServer(config, services) as server:
        yield server


@pytest.fixture(scope="session")
def security_models(detector_path: Path, onnx_reid_path: Path) -> Models:
    """The shared detector and re-ID model, loaded once for the suite."""
    config = Config.model_validate(
        {
            "detector": {"model": str(detector_path), "device": "cpu"},
            "embedder": {"model": str(onnx_reid_path), "backend": "onnx", "threads": 1},
        }
    )
    models = load_models(config)
    models.detector.detect(np.zeros((432, 768, 3), np.uint8))
    return models


def real_services(config: Config, models: Models) -> Services:
    return build_services(config, models)
