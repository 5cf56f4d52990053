"""What the app serves with: loaded once at start-up, shared by every request."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from tracker_service.config import Config
from tracker_service.events import EventSink, open_events
from tracker_service.events.service import EventServices
from tracker_service.jobs import JobManager
from tracker_service.jobs_shared import SharedJobManager
from tracker_service.postgres import check_reachable
from tracker_service.reid.gallery_store import DB_NAME
from tracker_service.reid.identity_gallery import IdentityGallery
from tracker_service.runtime import Models, load_models, open_gallery
from tracker_service.streams.manager import StreamManager
from tracker_service.streams.policy import DestinationPolicy

logger = logging.getLogger(__name__)

GALLERY_DIR = "gallery"


@dataclass
class Services:
    config: Config
    models: Models
    gallery: IdentityGallery
    jobs: JobManager | SharedJobManager
    streams: StreamManager
    history: EventServices
    events: EventSink | None = None
    started_at: float = field(default_factory=time.time)

    def close(self) -> None:
        """Stop streams and jobs, then write the gallery: nothing computed is lost."""
        self.streams.stop_all()
        self.jobs.stop()
        self.history.close()
        self.gallery.close()
        if self.events is not None:
            self.events.close()


def open_jobs(
    config: Config,
    models: Models,
    gallery: IdentityGallery,
    events: EventSink | None,
    history: EventServices | None = None,
) -> JobManager | SharedJobManager:
    """The shared queue in PostgreSQL when `jobs.url` is set, else this process's own."""
    if config.jobs.url is not None:
        return SharedJobManager(config, models, gallery, events, history=history)
    return JobManager(config, models, gallery, events, history=history)


def build_services(config: Config, models: Models | None = None) -> Services:
    """Load models (unless given, already loaded) and open the persistent gallery and job
    store (slow: seconds)."""
    started = time.perf_counter()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    # The shared database first: while it is away nothing else is worth loading.
    for name, url in (("gallery", config.gallery.url), ("jobs", config.jobs.url)):
        if url is not None:
            check_reachable(url, name)
    models = models or load_models(config)
    gallery_dir = config.data_dir / GALLERY_DIR
    gallery = open_gallery(config, models, gallery_dir)
    events = open_events(config.events)
    # The event history is SQLite in the gallery folder (its own tables; local to this node
    # even when the gallery itself is in PostgreSQL, which leaves that folder uncreated).
    gallery_dir.mkdir(parents=True, exist_ok=True)
    history = EventServices.open(config, gallery_dir / DB_NAME, mqtt=events)
    jobs = open_jobs(config, models, gallery, events, history)
    # Stream URLs come from API callers: the destination policy always applies.
    streams = StreamManager(
        models, gallery, config, DestinationPolicy(config), events=events, history=history
    )
    jobs.start()
    logger.info(
        "services ready in %.1f s: gallery %d identities, %d jobs on disk",
        time.perf_counter() - started,
        len(gallery),
        len(jobs.list()),
    )
    return Services(config, models, gallery, jobs, streams, history, events)
