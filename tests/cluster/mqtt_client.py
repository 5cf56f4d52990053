"""A real MQTT subscriber for tests: a persistent session, QoS 1, messages kept in order."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Subscriber:
    """Subscribes to `topic` on a broker of 127.0.0.1 and keeps every message received.

    A persistent session (clean_session=False) with QoS 1: the broker keeps what arrives while
    this subscriber reconnects, as a building system's client would be set up."""

    def __init__(self, port: int, topic: str) -> None:
        self.topic = topic
        self.messages: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-subscriber-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._connected = threading.Event()
        self._client.connect("127.0.0.1", port, keepalive=10)
        self._client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError("the test subscriber could not connect")

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        client.subscribe(self.topic, qos=1)
        self._connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        payload = json.loads(message.payload) if message.payload else None
        with self._lock:
            self.messages.append((message.topic, payload))

    def received(self) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout_s: float) -> list[tuple[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.received()) < count:
            time.sleep(0.1)
        return self.received()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
