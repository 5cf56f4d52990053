"""Rules fire on the right events and reach a real webhook receiver, signed and retried."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.events.receiver import SECRET, Receiver
from tracker_service.events.engine import RuleEngine, RuleError, parse_rule, public_rule
from tracker_service.events.model import Event, EventKind
from tracker_service.events.webhooks import WebhookDispatcher


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=2)
    yield server
    server.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[RuleEngine]:
    dispatcher = WebhookDispatcher(queue_size=10, timeout_s=2.0, retries=4, backoff_s=0.05)
    yield RuleEngine(tmp_path / "rules.json", dispatcher, max_rules=10)
    dispatcher.close()


def wait_for(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def rule(when: dict[str, Any], url: str, **kw: Any) -> Any:
    return parse_rule({"name": "r", "when": when, "webhook": {"url": url, "secret": SECRET}, **kw})


def crossing(at: float, direction: str = "in") -> Event:
    return Event(
        EventKind.CROSSED_LINE, at, 1.0, "stream:a", 4, 2, name="door", direction=direction
    )


def test_a_webhook_is_retried_then_verified_by_its_hmac(
    engine: RuleEngine, receiver: Receiver
) -> None:
    rule_id = engine.put(rule({"type": "identity_appears", "label": "Alice"}, receiver.url))
    appeared = Event(EventKind.APPEARED, time.time(), 2.0, "stream:a", 7, 1, label="Alice")
    engine.emit(appeared, None)
    engine.emit(appeared.with_(label="Bob"), None)  # not Alice: no delivery
    wait_for(lambda: receiver.verified)
    assert receiver.attempts == 3 and receiver.bad_signatures == 0
    body = receiver.verified[0]
    assert body["rule"] == {"id": rule_id, "name": "r", "type": "identity_appears"}
    assert body["event"]["identity_id"] == 7 and body["event"]["kind"] == "appeared"
    (delivery,) = engine.webhooks.deliveries(rule_id)
    wait_for(lambda: delivery.state == "delivered")
    assert delivery.attempts == 3 and delivery.status == 204


def test_a_dead_receiver_ends_in_a_failed_delivery_with_its_error(tmp_path: Path) -> None:
    dispatcher = WebhookDispatcher(queue_size=10, timeout_s=1.0, retries=2, backoff_s=0.01)
    server = Receiver(failures=100)
    try:
        delivery = dispatcher.submit("r1", server.url, SECRET, {"x": 1})
        wait_for(lambda: delivery.state == "failed")
        assert delivery.attempts == 3 and delivery.last_error == "HTTP 503"
    finally:
        server.close()
        dispatcher.close()


def test_submit_never_blocks_and_a_full_queue_drops() -> None:
    dispatcher = WebhookDispatcher(queue_size=2, timeout_s=1.0, retries=0, backoff_s=60)
    try:
        # Port 9 on loopback: nothing listens; each attempt fails fast, nothing leaves the host.
        states = [
            dispatcher.submit("r", "http://127.0.0.1:9/", SECRET, {}).state for _ in range(50)
        ]
        assert "dropped" in states and dispatcher.pending() <= 2
    finally:
        dispatcher.close()


def test_line_crossed_between_22_and_06_spans_midnight(
    engine: RuleEngine, receiver: Receiver
) -> None:
    receiver.failures = 0
    spec = rule(
        {"type": "line_crossed", "line": "door", "direction": "in", "between": ["22:00", "06:00"]},
        receiver.url,
    )
    engine.put(spec)
    day = datetime(2026, 12, 3, tzinfo=UTC).timestamp()
    for hour, direction in ((12, "in"), (23, "in"), (3, "in"), (3, "out"), (6, "in")):
        engine.emit(crossing(day + hour * 3600, direction), None)
    wait_for(lambda: len(receiver.verified) >= 2)
    time.sleep(0.2)
    hours = sorted(datetime.fromisoformat(b["event"]["time"]).hour for b in receiver.verified)
    assert hours == [3, 23]


def test_occupancy_above_for_a_time_fires_once_per_spell(
    engine: RuleEngine, receiver: Receiver
) -> None:
    receiver.failures = 0
    engine.put(
        rule({"type": "occupancy_above", "zone": "floor", "count": 2, "for_s": 5}, receiver.url)
    )
    for second, people in [(0, 3), (3, 3), (4, 1), (5, 3), (9, 3), (10, 3), (11, 3), (12, 0)]:
        engine.occupancy("stream:a", {"floor": people}, 1000.0 + second)
    wait_for(lambda: receiver.verified)
    time.sleep(0.2)
    assert [b["occupancy"]["count"] for b in receiver.verified] == [3]


def test_dwell_above(engine: RuleEngine, receiver: Receiver) -> None:
    receiver.failures = 0
    engine.put(rule({"type": "dwell_above", "zone": "floor", "seconds": 10}, receiver.url))
    base = Event(EventKind.LEFT_ZONE, time.time(), 0, "job:j", 1, 1, name="floor", dwell_s=4.0)
    engine.emit(base, None)
    engine.emit(base.with_(dwell_s=12.5), None)
    wait_for(lambda: receiver.verified)
    time.sleep(0.2)
    assert [b["event"]["dwell_s"] for b in receiver.verified] == [12.5]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "r", "when": {"type": "nope"}, "mqtt_topic": "t"}, "does not match any"),
        ({"name": "r", "when": {"type": "dwell_above", "zone": "z", "seconds": 1}}, "webhook"),
        (
            {
                "name": "r",
                "when": {"type": "line_crossed", "line": "d", "between": ["25:00", "06:00"]},
                "mqtt_topic": "t",
            },
            "clock time",
        ),
        (
            {
                "name": "r",
                "when": {"type": "dwell_above", "zone": "z", "seconds": 1},
                "webhook": {"url": "file:///etc/passwd", "secret": SECRET},
            },
            "http",
        ),
        (
            {
                "name": "r",
                "when": {"type": "dwell_above", "zone": "z", "seconds": 1},
                "webhook": {"url": "http://127.0.0.1/", "secret": "short"},
            },
            "at least 16",
        ),
    ],
)
def test_bad_rules_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rule(data)


def test_rules_persist_and_mqtt_needs_a_deliverer(tmp_path: Path, receiver: Receiver) -> None:
    dispatcher = WebhookDispatcher(queue_size=10, timeout_s=1.0, retries=0, backoff_s=1)
    try:
        first = RuleEngine(tmp_path / "rules.json", dispatcher, max_rules=1)
        rule_id = first.put(rule({"type": "dwell_above", "zone": "z", "seconds": 1}, receiver.url))
        with pytest.raises(RuleError, match="at most 1"):
            first.put(rule({"type": "dwell_above", "zone": "z", "seconds": 2}, receiver.url))
        with pytest.raises(RuleError, match="MQTT is not configured"):
            first.put(
                parse_rule(
                    {
                        "name": "m",
                        "when": {"type": "dwell_above", "zone": "z", "seconds": 1},
                        "mqtt_topic": "t",
                    }
                ),
                rule_id,
            )
        again = RuleEngine(tmp_path / "rules.json", dispatcher, max_rules=1)
        assert [i for i, _ in again.list()] == [rule_id]
        assert SECRET not in json.dumps(public_rule(rule_id, again.get(rule_id)))
    finally:
        dispatcher.close()
