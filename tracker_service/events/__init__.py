"""Events: where stream and job events go besides the WebSocket (an MQTT broker, chosen by
config), and, in the modules beside it, zone/line counting, files, history, rules and
notifications after the pipeline."""

from __future__ import annotations

from typing import Any, Protocol

from tracker_service.config_cluster import EventsConfig

Event = dict[str, Any]


class EventSink(Protocol):
    """Receives every stream event and job state change; must never block the caller."""

    def stream_event(self, event: Event) -> None: ...

    def stream_removed(self, stream_id: str) -> None: ...

    def job_event(self, job: Event) -> None: ...

    def stats(self) -> dict[str, float]: ...

    def close(self) -> None: ...


def open_events(config: EventsConfig) -> EventSink | None:
    """The configured event sink (an MQTT publisher), or None when events are off."""
    if config.mqtt_url is None:
        return None
    from tracker_service.events.mqtt import MqttEvents

    return MqttEvents(config)
