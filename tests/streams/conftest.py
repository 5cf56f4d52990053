"""Fixtures of the stream tests: configurations, real and fake models, a real RTSP camera."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.streams.support import FAKE_DIM, FakeDetector, FakeEmbedder, write_clip
from tracker_service.config import Config, GalleryConfig
from tracker_service.reid.factory import EmbedderInfo
from tracker_service.reid.gallery import Gallery
from tracker_service.runtime import Models, load_models, open_gallery

# Short timeouts and backoff, so that failures and recoveries happen within seconds.
FAST_STREAMS = {
    "open_timeout_s": 3.0,
    "read_timeout_s": 2.0,
    "reconnect_initial_s": 0.3,
    "reconnect_max_s": 1.5,
    "max_fps": 8.0,
}


def streams_config(**streams: object) -> Config:
    return Config.model_validate({"streams": {**FAST_STREAMS, **streams}})


@pytest.fixture(scope="session")
def real_config(detector_path: Path, onnx_reid_path: Path) -> Config:
    return Config.model_validate(
        {
            "detector": {"model": str(detector_path), "device": "cpu"},
            # One thread: the machine's cores are shared by the detector and other tests.
            "embedder": {
                "model": str(onnx_reid_path),
                "backend": "onnx",
                "device": "cpu",
                "threads": 1,
            },
            "streams": FAST_STREAMS,
        }
    )


@pytest.fixture(scope="session")
def real_models(real_config: Config) -> Models:
    """The shared YOLOv8n (OpenVINO INT8) and OSNet (ONNX), loaded once per session and
    warmed up: Ultralytics compiles the OpenVINO model on the first `predict` (seconds), which
    would show as the first frame's lag in every test."""
    models = load_models(real_config)
    models.detector.detect(np.zeros((432, 768, 3), np.uint8))
    models.embedder.embed([np.zeros((256, 128, 3), np.uint8)])
    return models


@pytest.fixture
def real_gallery(real_config: Config, real_models: Models) -> Iterator[Gallery]:
    gallery = open_gallery(real_config, real_models, None)
    yield gallery
    gallery.close()


@pytest.fixture
def fake_models() -> Models:
    info = EmbedderInfo("fake", "fake", FAKE_DIM, (8, 16), "cpu", 8, "dynamic", 1)
    return Models(FakeDetector(), FakeEmbedder(), info, "fake")


@pytest.fixture
def fake_gallery() -> Iterator[Gallery]:
    gallery = Gallery(GalleryConfig(), FAKE_DIM, None, "fake")
    yield gallery
    gallery.close()


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 frames at 20 fps: a one-second file, so that looping shows within seconds."""
    return write_clip(tmp_path_factory.mktemp("clips") / "short.mp4", frames=20, fps=20.0)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word: a hung camera."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join(2)
    for connection in accepted:
        connection.close()
    server.close()
