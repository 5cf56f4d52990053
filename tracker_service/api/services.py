"""What the app serves with: loaded once at start-up, shared by every request."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from tracker_service.config import Config
from tracker_service.jobs import JobManager
from tracker_service.reid.gallery import Gallery
from tracker_service.runtime import Models, load_models, open_gallery
from tracker_service.streams.manager import StreamManager
from tracker_service.streams.policy import DestinationPolicy

logger = logging.getLogger(__name__)

GALLERY_DIR = "gallery"


@dataclass
class Services:
    config: Config
    models: Models
    gallery: Gallery
    jobs: JobManager
    streams: StreamManager
    started_at: float = field(default_factory=time.time)

    def close(self) -> None:
        """Stop streams and jobs, then write the gallery: nothing computed is lost."""
        self.streams.stop_all()
        self.jobs.stop()
        self.gallery.close()


def build_services(config: Config, models: Models | None = None) -> Services:
    """Load models (unless given, already loaded) and open the persistent gallery and job
    store (slow: seconds)."""
    started = time.perf_counter()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    models = models or load_models(config)
    gallery = open_gallery(config, models, config.data_dir / GALLERY_DIR)
    jobs = JobManager(config, models, gallery)
    # Stream URLs come from API callers: the destination policy always applies.
    streams = StreamManager(models, gallery, config, DestinationPolicy(config))
    jobs.start()
    logger.info(
        "services ready in %.1f s: gallery %d identities, %d jobs on disk",
        time.perf_counter() - started,
        len(gallery),
        len(jobs.list()),
    )
    return Services(config, models, gallery, jobs, streams)
