"""Events on a real Mosquitto broker: topics, order per stream, a broker restart, a dead broker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.cluster.mqtt_client import Subscriber
from tests.cluster.servers import MosquittoBroker, free_port
from tracker_service.config import Config
from tracker_service.config_cluster import EventsConfig
from tracker_service.events.engine import RuleError, parse_rule
from tracker_service.events.model import Event, EventKind
from tracker_service.events.mqtt import MqttEvents
from tracker_service.events.service import EventServices
from tracker_service.reid.gallery import Gallery
from tracker_service.runner import Models
from tracker_service.streams.manager import StreamManager

pytestmark = pytest.mark.cluster

IDENTITY_TYPES = ("identity_appeared", "identity_left")


def _events_config(broker: MosquittoBroker, **changes: object) -> EventsConfig:
    return EventsConfig.model_validate(
        {"mqtt_url": broker.url, "node": "node-a", "reconnect_max_s": 2.0, **changes}
    )


def test_identity_events_arrive_in_order_across_a_broker_restart(
    broker: MosquittoBroker,
    campus_clip: Path,
    real_config: Config,
    real_models: Models,
    real_gallery: Gallery,
) -> None:
    subscriber = Subscriber(broker.port, "tracker/node-a/streams/#")
    events = MqttEvents(_events_config(broker))
    manager = StreamManager(real_models, real_gallery, real_config, events=events)
    try:
        info = manager.add(str(campus_clip), name="path")
        truth = manager.subscribe(info.id)  # what the WebSocket sees: the reference
        time.sleep(3.0)
        broker.stop()  # mid-run: the pipeline goes on, events wait in the outbox
        time.sleep(2.0)
        assert not events.connected
        broker.start()
        deadline = time.monotonic() + 60
        while manager.get(info.id).state not in ("stopped", "failed"):
            assert time.monotonic() < deadline, "the clip did not end"
            time.sleep(0.2)
        manager.remove(info.id)
        expected = []
        while (event := truth.get(0.5)) is not None:
            if event["type"] in IDENTITY_TYPES:
                expected.append(event)
        assert events.flush(20.0)
        assert len(expected) >= 4, "the clip should show people appearing and leaving"

        topic = f"tracker/node-a/streams/{info.id}/identity/"
        got = subscriber.wait_for(len(expected), 20.0)
        identity = [payload for name, payload in got if name.startswith(topic)]
        unique = list({payload["seq"]: payload for payload in identity}.values())  # QoS 1 dups
        assert [(e["type"], e["identity_id"], e["timestamp"]) for e in expected] == [
            (e["type"], e["identity_id"], e["timestamp"]) for e in unique
        ]
        assert all(p["node"] == "node-a" and p["stream_id"] == info.id for p in unique)
        assert [p["seq"] for p in unique] == sorted(p["seq"] for p in unique)
        statuses = [p for name, p in got if name.endswith(f"{info.id}/status") and p]
        assert statuses and statuses[-1]["state"] == "stopped"
        assert events.stats()["dropped"] == 0
    finally:
        manager.stop_all()
        events.close()
        subscriber.close()


def test_a_dead_broker_neither_blocks_nor_grows_the_outbox() -> None:
    dead = EventsConfig(mqtt_url=f"mqtt://127.0.0.1:{free_port()}", node="n", outbox_size=50)
    events = MqttEvents(dead)
    try:
        started = time.monotonic()
        for number in range(500):
            events.stream_event(
                {"type": "identity_appeared", "stream_id": "s", "identity_id": number}
            )
        assert time.monotonic() - started < 1.0  # 500 events, no broker: no waiting
        stats = events.stats()
        assert stats["connected"] == 0.0
        assert stats["pending"] == 50
        assert stats["dropped"] == 450
    finally:
        events.close(timeout_s=0.5)


def test_track_summaries_are_rate_limited_and_status_is_retained(broker: MosquittoBroker) -> None:
    events = MqttEvents(_events_config(broker, tracks_interval_s=3600.0))
    try:
        for frame in range(20):
            events.stream_event({"type": "frame", "stream_id": "cam", "frame": frame, "tracks": []})
        events.stream_event({"type": "status", "stream_id": "cam", "state": "live", "error": None})
        assert events.flush(10.0)
        # A subscriber that comes later still gets the retained status (and no old frames).
        late = Subscriber(broker.port, "tracker/node-a/#")
        got = late.wait_for(2, 5.0)
        late.close()
        topics = {name: payload for name, payload in got}
        assert topics["tracker/node-a/streams/cam/status"]["state"] == "live"
        assert topics["tracker/node-a/status"] == "online"
        assert events.stats()["published"] == 2  # one tracks summary and the status
    finally:
        events.close()


def test_a_rule_with_an_mqtt_topic_is_published_on_the_broker(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    config = Config(data_dir=tmp_path, events=_events_config(broker))
    without = EventServices.open(Config(data_dir=tmp_path / "plain"), None)
    events = MqttEvents(config.events)
    history = EventServices.open(config, None, mqtt=events)
    subscriber = Subscriber(broker.port, "tracker/node-a/rules/#")
    spec = parse_rule(
        {
            "name": "door",
            "when": {"type": "line_crossed", "line": "door", "direction": "in"},
            "mqtt_topic": "site/door",
        }
    )
    try:
        with pytest.raises(RuleError, match="MQTT is not configured"):
            without.rules.put(spec)  # no broker configured: refused (422 in the API)
        rule_id = history.rules.put(spec)
        deadline = time.monotonic() + 10
        while not events.connected:  # the subscriber is subscribed by then, too
            assert time.monotonic() < deadline, "no connection to the broker"
            time.sleep(0.05)
        crossing = Event(EventKind.CROSSED_LINE, time.time(), 1.0, "stream:a", 4, 2, name="door")
        history.rules.emit(crossing.with_(direction="out"), None)  # the other way: nothing
        history.rules.emit(crossing.with_(direction="in"), None)
        ((topic, payload),) = subscriber.wait_for(1, 10.0)
        assert topic == "tracker/node-a/rules/site/door"
        assert payload["rule"] == {"id": rule_id, "name": "door", "type": "line_crossed"}
        assert payload["event"]["kind"] == "crossed_line" and payload["node"] == "node-a"
        time.sleep(0.5)
        assert len(subscriber.received()) == 1  # the crossing out fired nothing
    finally:
        subscriber.close()
        history.close()
        without.close()
        events.close()
