"""A bounded soak: one live stream on the looping shared video with the real models, a
WebSocket-like subscriber and an MJPEG-like viewer, while the process's memory is sampled.

Leaks in a long-running stream (queued frames, growing histories, subscribers, track state)
show as memory that keeps growing after warm-up; here it must stay flat. Two measures:
resident memory (everything, but noisy: the runtimes' arenas grow in steps to their
high-water marks) and Python's traced heap (tracemalloc: Python objects and NumPy arrays,
so every frame, event and track the service keeps; quiet, hence a tight bound)."""

from __future__ import annotations

import logging
import threading
import time
import tracemalloc
from pathlib import Path
from statistics import median

import pytest

from tests.streams.support import of_type
from tracker_service.config import Config
from tracker_service.reid.gallery import Gallery
from tracker_service.runtime import Models
from tracker_service.streams import StreamManager

logger = logging.getLogger(__name__)

SOAK_S = 90.0
WARM_UP_S = 30.0  # over a pass of the video: models, gallery and allocators settle
SAMPLE_S = 5.0
MAX_RSS_GROWTH_MB = 32.0  # a leaked frame per processed frame would be ~4 MB a second
MAX_HEAP_GROWTH_MB = 8.0  # a few frames (1 MB each) in flight at any moment


STATUS = Path("/proc/self/status")


def rss_mb() -> float:
    """Resident memory from the kernel (no dependency: psutil is only in the bench group)."""
    for line in STATUS.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmRSS line in /proc/self/status")


def heap_mb() -> float:
    return tracemalloc.get_traced_memory()[0] / 2**20


def growth(series: list[float]) -> float:
    """From the start to the end of `series`, each end the median of three samples: frames
    in flight come and go (a megabyte each), a leak stays."""
    return median(series[-3:]) - median(series[:3])


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(not STATUS.exists(), reason="needs Linux /proc to read resident memory")
def test_memory_stays_flat_on_a_long_running_stream(
    video_path: Path, real_config: Config, real_models: Models, real_gallery: Gallery
) -> None:
    tracemalloc.start()
    manager = StreamManager(real_models, real_gallery, real_config)
    info = manager.add(str(video_path), name="soak", loop=True)
    subscription = manager.subscribe(info.id)
    stop = threading.Event()
    received: list[int] = [0, 0]  # events, frame events

    def websocket_client() -> None:
        while not stop.is_set():
            event = subscription.get(timeout=0.5)
            if event is not None:
                received[0] += 1
                received[1] += len(of_type([event], "frame"))

    def mjpeg_viewer() -> None:
        while not stop.wait(0.2):
            manager.latest_jpeg(info.id)

    clients = [threading.Thread(target=websocket_client), threading.Thread(target=mjpeg_viewer)]
    for client in clients:
        client.start()
    samples: list[tuple[float, float, float]] = []
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < SOAK_S:
            samples.append((elapsed, rss_mb(), heap_mb()))
            time.sleep(SAMPLE_S)
        stats = manager.get(info.id).stats
    finally:
        stop.set()
        for client in clients:
            client.join(5)
        manager.stop_all()
        tracemalloc.stop()
    settled = [(rss, heap) for at, rss, heap in samples if at >= WARM_UP_S]
    rss_growth = growth([rss for rss, _ in settled])
    heap_growth = growth([heap for _, heap in settled])
    logger.info(
        "soak: RSS %s MB (+%.1f after warm-up); Python heap %s MB (+%.1f); %s; events %d "
        "(frames %d)",
        [round(rss) for _, rss, _ in samples],
        rss_growth,
        [round(heap, 1) for _, _, heap in samples],
        heap_growth,
        stats,
        *received,
    )
    assert stats.state == "live"
    assert stats.frames_processed >= 0.5 * SOAK_S  # it kept working all along
    assert stats.lag_max_s is not None and stats.lag_max_s < 2.0
    assert received[1] >= stats.frames_processed - 5  # the subscriber kept up
    assert rss_growth < MAX_RSS_GROWTH_MB
    assert heap_growth < MAX_HEAP_GROWTH_MB
