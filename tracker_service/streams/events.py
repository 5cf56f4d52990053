"""Fan-out of a stream's events to subscribers, each with its own bounded queue.

A subscriber that does not keep up (a slow WebSocket client, a stalled browser tab) must never
slow the worker or make memory grow: each subscriber has a queue of fixed size, and when it is
full the oldest event is dropped (the newest state is what a live view needs). Publishing
never blocks on a subscriber.

Events are plain JSON-ready dicts shared by every subscriber: treat them as read-only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Forward = Callable[[Event], None]  # also given every event (the MQTT publisher); never blocks


class TooManySubscribersError(RuntimeError):
    """The stream already has as many subscribers as the configuration allows."""


class Subscription:
    """One subscriber's queue of events.

    `get(timeout)` blocks a thread (call it through `asyncio.to_thread` from async code);
    `aget(timeout)` waits on the event loop without holding a thread, which is what a
    WebSocket route serving many clients wants. Both return None on timeout and, once the
    queue is drained, after `close()` or the end of the stream (then `closed` is True).
    """

    def __init__(self, hub: EventHub, capacity: int) -> None:
        self._hub = hub
        self._cond = threading.Condition()
        self._queue: deque[Event] = deque(maxlen=capacity)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = False
        self._dropped = 0

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    @property
    def dropped(self) -> int:
        """Events this subscriber lost because it fell behind."""
        with self._cond:
            return self._dropped

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def get(self, timeout: float | None = None) -> Event | None:
        with self._cond:
            if not self._queue and not self._closed:
                self._cond.wait(timeout)
            return self._queue.popleft() if self._queue else None

    async def aget(self, timeout: float | None = None) -> Event | None:
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._queue or self._closed:
                return self._queue.popleft() if self._queue else None
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            with self._cond:
                self._waiters = [item for item in self._waiters if item[1] is not waiter]
        with self._cond:
            return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        """Stop receiving events (idempotent); queued events can still be read."""
        self._hub.discard(self)
        self.finish()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def offer(self, event: Event) -> None:
        """Queue `event`, dropping the oldest one if full; never blocks (called by the hub)."""
        with self._cond:
            if self._closed:
                return
            if len(self._queue) == self._queue.maxlen:
                self._dropped += 1  # the deque drops the oldest itself
            self._queue.append(event)
            self._wake()

    def finish(self) -> None:
        """End the subscription from the publishing side (the stream ended)."""
        with self._cond:
            self._closed = True
            self._wake()

    def _wake(self) -> None:
        """Caller holds _cond."""
        self._cond.notify_all()
        for loop, waiter in self._waiters:
            try:
                loop.call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:  # that event loop is closed: nobody is waiting any more
                continue
        self._waiters.clear()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventHub:
    """Publishes events to every current subscriber; bounded in subscribers and queue size.

    `forward`, when given, also receives every event (the MQTT publisher); it must not block.
    """

    def __init__(
        self,
        queue_size: int,
        max_subscribers: int,
        forward: Forward | None = None,
    ) -> None:
        self.queue_size = queue_size
        self._forward = forward
        self.max_subscribers = max_subscribers
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._closed = False

    def subscribe(self, first: Event | None = None) -> Subscription:
        """A new subscription, with `first` queued ahead of everything published later
        (e.g. the current status). After `close`, the subscription holds only `first`."""
        subscription = Subscription(self, self.queue_size)
        if first is not None:
            subscription.offer(first)
        with self._lock:
            if self._closed:
                subscription.finish()
                return subscription
            if len(self._subscribers) >= self.max_subscribers:
                raise TooManySubscribersError(
                    f"this stream already has {self.max_subscribers} subscribers "
                    "(streams.max_subscribers)"
                )
            self._subscribers.append(subscription)
        return subscription

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = tuple(self._subscribers)
        for subscription in subscribers:
            subscription.offer(event)
        if self._forward is not None:
            self._forward(event)

    def discard(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def close(self) -> None:
        """End every subscription (they drain what is queued, then get None)."""
        with self._lock:
            self._closed = True
            subscribers, self._subscribers = self._subscribers, []
        for subscription in subscribers:
            subscription.finish()

    def __len__(self) -> int:
        with self._lock:
            return len(self._subscribers)
