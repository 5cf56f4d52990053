"""Prometheus metrics, read from the live services at scrape time (nothing to keep in sync)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tracker_service.api.services import Services
from tracker_service.reid.gallery import GalleryError


class ServiceCollector(Collector):
    def __init__(self, services: Callable[[], Services | None]) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        services = self._services()
        ready = GaugeMetricFamily("tracker_ready", "1 when models are loaded")
        ready.add_metric([], 1.0 if services else 0.0)
        yield ready
        if services is None:
            return
        yield from self._jobs(services)
        yield from self._gallery(services)
        yield from self._streams(services)
        if services.events is not None:
            yield from self._events(services.events.stats())
        yield from self._webhooks(services)

    @staticmethod
    def _webhooks(services: Services) -> Iterator[Metric]:
        webhooks = services.history.webhooks
        pending = GaugeMetricFamily("tracker_webhook_queue", "webhook deliveries waiting")
        pending.add_metric([], webhooks.pending())
        yield pending
        recent = GaugeMetricFamily(
            "tracker_webhook_recent", "recent deliveries (the log) by state", labels=["state"]
        )
        states: dict[str, int] = {}
        for delivery in webhooks.deliveries(limit=10_000):
            states[delivery.state] = states.get(delivery.state, 0) + 1
        for state in ("pending", "delivered", "failed", "dropped"):
            recent.add_metric([state], states.get(state, 0))
        yield recent

    @staticmethod
    def _jobs(services: Services) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("tracker_jobs", "jobs by state", labels=["state"])
        for state, count in services.jobs.counts().items():
            jobs.add_metric([state.value], count)
        yield jobs

    @staticmethod
    def _gallery(services: Services) -> Iterator[Metric]:
        identities = GaugeMetricFamily("tracker_gallery_identities", "identities in the gallery")
        exemplars = GaugeMetricFamily("tracker_gallery_exemplars", "exemplar embeddings kept")
        try:
            identities.add_metric([], len(services.gallery))
            exemplars.add_metric([], services.gallery.exemplar_count)
        except GalleryError:  # a shared gallery's database is away: no figure, no failure
            return
        yield identities
        yield exemplars

    @staticmethod
    def _events(stats: dict[str, float]) -> Iterator[Metric]:
        connected = GaugeMetricFamily("tracker_mqtt_connected", "1 while the broker is connected")
        connected.add_metric([], stats["connected"])
        pending = GaugeMetricFamily("tracker_mqtt_pending", "events waiting for the broker")
        pending.add_metric([], stats["pending"])
        published = CounterMetricFamily("tracker_mqtt_published", "events handed to the broker")
        published.add_metric([], stats["published"])
        dropped = CounterMetricFamily(
            "tracker_mqtt_dropped", "events dropped because the outbox was full"
        )
        dropped.add_metric([], stats["dropped"])
        yield from (connected, pending, published, dropped)

    @staticmethod
    def _streams(services: Services) -> Iterator[Metric]:
        labels = ["stream"]
        gauges = {
            "fps": GaugeMetricFamily(
                "tracker_stream_fps", "frames processed a second", labels=labels
            ),
            "lag": GaugeMetricFamily(
                "tracker_stream_lag_seconds", "age of the frame being processed", labels=labels
            ),
            "live": GaugeMetricFamily("tracker_stream_live", "1 while live", labels=labels),
            "share": GaugeMetricFamily(
                "tracker_stream_embedded_share", "share of detections embedded", labels=labels
            ),
            "detector": GaugeMetricFamily(
                "tracker_detector_latency_seconds", "median detector time a frame", labels=labels
            ),
            "embedder": GaugeMetricFamily(
                "tracker_embedder_latency_seconds", "median embedder time a frame", labels=labels
            ),
        }
        counters = {
            "dropped": CounterMetricFamily(
                "tracker_stream_dropped_frames", "frames skipped to stay live", labels=labels
            ),
            "frames": CounterMetricFamily(
                "tracker_stream_frames", "frames processed", labels=labels
            ),
            "reconnects": CounterMetricFamily(
                "tracker_stream_reconnects", "reconnections to the camera", labels=labels
            ),
        }
        for stream_id, values in services.streams.metrics().items():
            for key, family in gauges.items():
                family.add_metric([stream_id], float(values.get(key, 0.0)))
            for key, counter in counters.items():
                counter.add_metric([stream_id], float(values.get(key, 0.0)))
        yield from gauges.values()
        yield from counters.values()


def build_registry(services: Callable[[], Services | None]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(services))
    return registry
