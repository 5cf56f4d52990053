"""Webhook delivery: signed POSTs from a worker thread, retried with back-off, logged.

`submit` never blocks: deliveries wait in a bounded queue (a full queue drops the new one and
says so in the log) for one worker thread, which POSTs the JSON body with
`X-Tracker-Signature: sha256=<hex HMAC-SHA256 of the body with the rule's secret>` and
`X-Tracker-Delivery: <id>`. A failure (connection error, timeout, non-2xx answer) is retried
after `backoff_s`, doubling each time, up to `retries` times; the rest of the queue is served
meanwhile. The log keeps the most recent deliveries (state, attempts, last error).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tracker-Signature"
DELIVERY_HEADER = "X-Tracker-Delivery"
LOG_SIZE = 500


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: receivers recompute it over the raw body and compare."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    delivery_id: int
    rule_id: str
    url: str
    state: str = "pending"  # pending, delivered, failed, dropped
    attempts: int = 0
    status: int | None = None
    last_error: str | None = None
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = data.pop("delivery_id")
        return data


@dataclass(order=True)
class _Due:
    at: float
    delivery_id: int
    body: bytes = field(compare=False)
    secret: str = field(compare=False)


class WebhookDispatcher:
    """One worker thread, a bounded queue of deliveries, retries on a timetable."""

    def __init__(
        self, *, queue_size: int, timeout_s: float, retries: int, backoff_s: float
    ) -> None:
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._due: list[_Due] = []
        self._log: OrderedDict[int, Delivery] = OrderedDict()
        self._next_id = 1
        self._wake = threading.Condition()
        self._stopping = False
        # Straight to the receiver: a proxy from the environment would see every event.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    def submit(self, rule_id: str, url: str, secret: str, payload: dict[str, Any]) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self._wake:
            delivery = Delivery(self._next_id, rule_id, url)
            self._next_id += 1
            self._remember(delivery)
            if len(self._due) >= self.queue_size:
                delivery.state, delivery.last_error = "dropped", "delivery queue full"
                delivery.finished_at = time.time()
                logger.warning("webhook for rule %s dropped: the queue is full", rule_id)
                return delivery
            heapq.heappush(self._due, _Due(time.monotonic(), delivery.delivery_id, body, secret))
            self._wake.notify()
        return delivery

    def deliveries(self, rule_id: str | None = None, limit: int = 50) -> list[Delivery]:
        with self._wake:
            items = [d for d in reversed(self._log.values()) if rule_id in (None, d.rule_id)]
        return items[:limit]

    def pending(self) -> int:
        with self._wake:
            return len(self._due)

    def close(self, timeout_s: float = 5.0) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout_s)

    def _remember(self, delivery: Delivery) -> None:
        self._log[delivery.delivery_id] = delivery
        while len(self._log) > LOG_SIZE:
            self._log.popitem(last=False)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._due or self._due[0].at > time.monotonic()):
                    wait = self._due[0].at - time.monotonic() if self._due else None
                    self._wake.wait(wait)
                if self._stopping:
                    return
                due = heapq.heappop(self._due)
                delivery = self._log.get(due.delivery_id)
            if delivery is not None:
                self._attempt(delivery, due)

    def _attempt(self, delivery: Delivery, due: _Due) -> None:
        error, status = self._post(delivery, due)
        with self._wake:
            delivery.attempts += 1
            delivery.status = status
            if error is None:
                delivery.state, delivery.last_error = "delivered", None
                delivery.finished_at = time.time()
                return
            delivery.last_error = error
            if delivery.attempts > self.retries:
                delivery.state, delivery.finished_at = "failed", time.time()
                logger.warning(
                    "webhook for rule %s failed after %d attempts: %s",
                    delivery.rule_id,
                    delivery.attempts,
                    error,
                )
                return
            wait = self.backoff_s * 2 ** (delivery.attempts - 1)
            heapq.heappush(
                self._due, _Due(time.monotonic() + wait, due.delivery_id, due.body, due.secret)
            )

    def _post(self, delivery: Delivery, due: _Due) -> tuple[str | None, int | None]:
        request = urllib.request.Request(
            delivery.url,
            data=due.body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "tracker-service",
                SIGNATURE_HEADER: sign(due.secret, due.body),
                DELIVERY_HEADER: str(delivery.delivery_id),
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                return None, int(response.status)
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}", exc.code
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"{type(exc).__name__}: {reason}", None
