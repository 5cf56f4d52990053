"""Everything after the pipeline, as the service wires it: zones per stream, the event
history, the rules and their webhooks. Built once at start-up (`EventServices.open`)."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tracker_service.config import Config
from tracker_service.events import EventSink as EventPublisher
from tracker_service.events.engine import RULES_FILE, RuleEngine
from tracker_service.events.live import LiveEvents
from tracker_service.events.model import EventSink
from tracker_service.events.monitor import LabelLookup
from tracker_service.events.mqtt import MqttEvents, MqttRuleDeliverer
from tracker_service.events.store import EventStore, SqliteEventStore, StoreSink
from tracker_service.events.webhooks import WebhookDispatcher
from tracker_service.zones import ZoneSet, ZoneSpecError, parse_zone_set

logger = logging.getLogger(__name__)

ZONES_DIR = "zones"
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ZoneRegistry:
    """The zone set of each stream, one JSON file per stream under `<data_dir>/zones/`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not _SAFE_KEY.match(key):
            raise ValueError(f"bad zone set key {key!r}")
        return self.directory / f"{key}.json"

    def get(self, key: str) -> ZoneSet:
        path = self._path(key)
        if not path.is_file():
            return ZoneSet()
        try:
            return parse_zone_set(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, ZoneSpecError) as exc:
            logger.warning("ignoring unreadable zones of %s: %s", key, exc)
            return ZoneSet()

    def put(self, key: str, zone_set: ZoneSet) -> None:
        path = self._path(key)
        partial = path.with_suffix(".partial")
        partial.write_text(zone_set.model_dump_json(indent=2), encoding="utf-8")
        os.replace(partial, path)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


@dataclass
class EventServices:
    config: Config
    store: EventStore
    webhooks: WebhookDispatcher
    rules: RuleEngine
    zones: ZoneRegistry

    @classmethod
    def open(
        cls, config: Config, database: Path | None, mqtt: EventPublisher | None = None
    ) -> EventServices:
        """`database`: the gallery's SQLite file (None: in memory, for tests); `mqtt`: the
        service's MQTT publisher, if any, which then delivers rules with an `mqtt_topic`."""
        settings = config.history
        store = SqliteEventStore(
            database,
            retention_days=settings.retention_days,
            max_events=settings.max_events,
            keep_snapshots=settings.snapshots,
        )
        webhooks = WebhookDispatcher(
            queue_size=settings.webhook_queue,
            timeout_s=settings.webhook_timeout_s,
            retries=settings.webhook_retries,
            backoff_s=settings.webhook_backoff_s,
        )
        rules = RuleEngine(config.data_dir / RULES_FILE, webhooks, settings.max_rules)
        if isinstance(mqtt, MqttEvents):
            rules.deliverers["mqtt"] = MqttRuleDeliverer(mqtt)
        return cls(config, store, webhooks, rules, ZoneRegistry(config.data_dir / ZONES_DIR))

    def sinks(self) -> list[EventSink]:
        """Where a stream's or job's events go: the history, then the rules (which see the
        stored event, with its id and snapshot URL)."""
        return [StoreSink(self.store, then=[self.rules])]

    def live(self, stream_id: str, label: LabelLookup | None) -> LiveEvents:
        return LiveEvents(
            f"stream:{stream_id}",
            self.zones.get(stream_id),
            self.config.zones,
            sinks=self.sinks(),
            label=label,
            occupancy_listeners=[self.rules.occupancy],
        )

    def close(self) -> None:
        self.webhooks.close()
        self.store.close()
