"""Events on an MQTT broker, for Home Assistant, Node-RED and building systems.

Topics (prefix `tracker`, node = `events.node`, the host name by default):

- `tracker/<node>/status`: `"online"`, or `"offline"` (also the broker's last will);
  QoS 1, retained.
- `tracker/<node>/streams/<stream>/status`: `{stream_id, state, error, timestamp}`; QoS 1,
  retained (cleared when the stream is removed).
- `tracker/<node>/streams/<stream>/identity/appeared` and `.../identity/left`:
  `{stream_id, identity_id, label, track_id, timestamp}`; QoS 1.
- `tracker/<node>/streams/<stream>/tracks`: the frame event (`frame`, `timestamp`, `lag_s`,
  `tracks`), at most once per `events.tracks_interval_s`; QoS 0.
- `tracker/<node>/jobs/<job>/state`: `{job_id, state, filename, progress, error,
  timestamp}` on every state change; QoS 1.

Every payload carries `seq`, a number that grows by one per message of this process, so a
subscriber can spot a message delivered twice (QoS 1 is at-least-once).

Nothing here may block or grow the pipeline: `publish` puts a message in a bounded outbox
(the oldest is dropped when it is full, and counted) and returns. One sender thread hands
messages to paho-mqtt while the connection is up, keeping at most `_IN_FLIGHT` unacknowledged;
paho sends them in order and re-sends unacknowledged QoS 1 messages after a reconnection, so
the order per stream survives a broker restart. paho's network thread reconnects with
exponential back-off (`events.reconnect_initial_s` doubling up to `reconnect_max_s`).
"""

from __future__ import annotations

import itertools
import json
import logging
import ssl
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tracker_service.config_cluster import EventsConfig

logger = logging.getLogger(__name__)

_IN_FLIGHT = 100  # messages handed to paho and not yet acknowledged, at most
_KEEPALIVE_S = 30


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class MqttEvents:
    """Publishes stream and job events to one broker; `close()` when done."""

    def __init__(self, config: EventsConfig) -> None:
        if config.mqtt_url is None:
            raise ValueError("events.mqtt_url is not set")
        self.config = config
        self.base = f"{config.topic_prefix}/{config.node}"
        self._cond = threading.Condition()
        self._outbox: deque[_Message] = deque(maxlen=config.outbox_size)
        self._in_flight: deque[mqtt.MQTTMessageInfo] = deque()
        self._seq = itertools.count(1)
        self._last_tracks: dict[str, float] = {}
        self._stop = False
        self.dropped = 0
        self.published = 0
        self._client = self._new_client(config.mqtt_url)
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._sender.start()

    # -- the client ---------------------------------------------------------------------------

    def _new_client(self, url: str) -> mqtt.Client:
        parts = urlsplit(url)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"tracker-{self.config.node}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if parts.username:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if parts.scheme == "mqtts":
            client.tls_set_context(ssl.create_default_context())
        client.reconnect_delay_set(
            max(1, round(self.config.reconnect_initial_s)), round(self.config.reconnect_max_s)
        )
        client.max_inflight_messages_set(_IN_FLIGHT)
        client.will_set(f"{self.base}/status", json.dumps("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        default_port = 8883 if parts.scheme == "mqtts" else 1883
        client.connect_async(parts.hostname or "", parts.port or default_port, _KEEPALIVE_S)
        client.loop_start()  # paho's thread: connects, retries the first connection, reconnects
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            logger.warning("MQTT broker refused the connection: %s", reason)
            return
        logger.info("connected to the MQTT broker")
        client.publish(f"{self.base}/status", json.dumps("online"), qos=1, retain=True)
        with self._cond:
            self._cond.notify_all()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not self._stop:
            logger.warning("lost the MQTT broker (%s); reconnecting with back-off", reason)

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    # -- publishing ---------------------------------------------------------------------------

    def publish(
        self, topic: str, payload: dict[str, Any], qos: int = 1, retain: bool = False
    ) -> None:
        """Queue `payload` for `<prefix>/<node>/<topic>`; never blocks."""
        body = {**payload, "node": self.config.node, "seq": next(self._seq)}
        message = _Message(f"{self.base}/{topic}", json.dumps(body).encode(), qos, retain)
        with self._cond:
            if len(self._outbox) == self._outbox.maxlen:
                self.dropped += 1  # the deque drops the oldest itself
            self._outbox.append(message)
            self._cond.notify_all()

    def stream_event(self, event: dict[str, Any]) -> None:
        """A stream's event (as the WebSocket gets it), on its MQTT topic."""
        stream = event["stream_id"]
        kind = event["type"]
        if kind == "status":
            self.publish(f"streams/{stream}/status", event, qos=1, retain=True)
        elif kind in ("identity_appeared", "identity_left"):
            self.publish(f"streams/{stream}/identity/{kind.removeprefix('identity_')}", event)
        elif kind == "frame" and self._tracks_due(stream, time.monotonic()):
            self.publish(f"streams/{stream}/tracks", event, qos=0)

    def job_event(self, job: dict[str, Any]) -> None:
        self.publish(f"jobs/{job['job_id']}/state", job)

    def _tracks_due(self, stream: str, now: float) -> bool:
        with self._cond:
            last = self._last_tracks.get(stream)
            if last is not None and now - last < self.config.tracks_interval_s:
                return False
            self._last_tracks[stream] = now
            return True

    def stream_removed(self, stream: str) -> None:
        """The stream is gone: clear its retained status and its rate-limit entry."""
        with self._cond:
            self._last_tracks.pop(stream, None)
            self._outbox.append(_Message(f"{self.base}/streams/{stream}/status", b"", 1, True))
            self._cond.notify_all()

    def stats(self) -> dict[str, float]:
        """For `/metrics`: connected (0/1), pending, published and dropped messages."""
        with self._cond:
            return {
                "connected": 1.0 if self.connected else 0.0,
                "pending": float(len(self._outbox) + len(self._in_flight)),
                "published": float(self.published),
                "dropped": float(self.dropped),
            }

    # -- the sender ---------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._can_send():
                    self._cond.wait(0.2)
                    self._prune_acknowledged()
                if self._stop:
                    return
                message = self._outbox.popleft()
            info = self._client.publish(message.topic, message.payload, message.qos, message.retain)
            with self._cond:
                self.published += 1
                if message.qos > 0:
                    self._in_flight.append(info)

    def _can_send(self) -> bool:
        """Caller holds _cond."""
        self._prune_acknowledged()
        return bool(self._outbox) and self.connected and len(self._in_flight) < _IN_FLIGHT

    def _prune_acknowledged(self) -> None:
        while self._in_flight and self._in_flight[0].is_published():
            self._in_flight.popleft()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued message is acknowledged (True) or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._cond:
                self._prune_acknowledged()
                if not self._outbox and not self._in_flight:
                    return True
            time.sleep(0.05)
        return False

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (for up to `timeout_s`), say offline, disconnect."""
        self.flush(timeout_s)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._sender.join(timeout_s)
        if self.connected:
            info = self._client.publish(f"{self.base}/status", json.dumps("offline"), 1, True)
            info.wait_for_publish(min(timeout_s, 2.0))
        self._client.disconnect()
        self._client.loop_stop()


class MqttRuleDeliverer:
    """What a rule with an `mqtt_topic` fires, published through the service's MQTT
    publisher on `<prefix>/<node>/rules/<mqtt_topic>` (QoS 1); installed as
    `RuleEngine.deliverers["mqtt"]` when `events.mqtt_url` is set."""

    def __init__(self, publisher: MqttEvents) -> None:
        self.publisher = publisher

    def deliver(self, rule_id: str, topic: str, payload: dict[str, Any]) -> None:
        self.publisher.publish(f"rules/{topic}", payload, qos=1)  # payload names the rule
