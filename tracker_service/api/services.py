"""What the app serves with: loaded once at start-up, shared by every request."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from tracker_service.config import Config
from tracker_service.events.service import EventServices
from tracker_service.jobs import JobManager
from tracker_service.reid.gallery import Gallery
from tracker_service.reid.gallery_store import DB_NAME
from tracker_service.runtime import Models, load_models, open_gallery
from tracker_service.streams.manager import StreamManager

logger = logging.getLogger(__name__)

GALLERY_DIR = "gallery"


@dataclass
class Services:
    config: Config
    models: Models
    gallery: Gallery
    jobs: JobManager
    streams: StreamManager
    events: EventServices
    started_at: float = field(default_factory=time.time)

    def close(self) -> None:
        """Stop streams and jobs, then write the gallery: nothing computed is lost."""
        self.streams.stop_all()
        self.jobs.stop()
        self.events.close()
        self.gallery.close()


def build_services(config: Config) -> Services:
    """Load models and open the persistent gallery and job store (slow: seconds)."""
    started = time.perf_counter()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    models = load_models(config)
    gallery_dir = config.data_dir / GALLERY_DIR
    gallery = open_gallery(config, models, gallery_dir)
    # The event history lives in the gallery's database (its own tables).
    events = EventServices.open(config, gallery_dir / DB_NAME)
    jobs = JobManager(config, models, gallery, events)
    streams = StreamManager(models, gallery, config, events)
    jobs.start()
    logger.info(
        "services ready in %.1f s: gallery %d identities, %d jobs on disk",
        time.perf_counter() - started,
        len(gallery),
        len(jobs.list()),
    )
    return Services(config, models, gallery, jobs, streams, events)
