"""Subscriptions: bounded, drop-oldest, never blocking the publisher, usable from asyncio."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tracker_service.streams import EventHub, TooManySubscribersError


def numbered(index: int) -> dict[str, object]:
    return {"type": "frame", "frame": index}


def test_a_slow_subscriber_keeps_the_newest_events_and_counts_the_rest() -> None:
    hub = EventHub(queue_size=4, max_subscribers=8)
    subscription = hub.subscribe()
    for index in range(10):
        hub.publish(numbered(index))
    assert subscription.pending() == 4
    assert subscription.dropped == 6
    assert [subscription.get(0)["frame"] for _ in range(4)] == [6, 7, 8, 9]  # type: ignore[index]
    assert subscription.get(timeout=0.05) is None
    assert not subscription.closed


@pytest.mark.timeout(10)
def test_publishing_never_waits_for_subscribers() -> None:
    hub = EventHub(queue_size=16, max_subscribers=8)
    stuck = [hub.subscribe() for _ in range(8)]  # nobody reads these
    started = time.perf_counter()
    for index in range(20_000):
        hub.publish(numbered(index))
    elapsed = time.perf_counter() - started
    assert all(subscription.pending() == 16 for subscription in stuck)
    assert elapsed < 5.0  # microseconds each; a blocking publish would hang here


def test_the_number_of_subscribers_is_bounded() -> None:
    hub = EventHub(queue_size=4, max_subscribers=2)
    first = hub.subscribe()
    hub.subscribe()
    with pytest.raises(TooManySubscribersError, match="2 subscribers"):
        hub.subscribe()
    first.close()
    hub.subscribe()  # a closed subscription frees its place
    assert len(hub) == 2


@pytest.mark.timeout(10)
def test_closing_wakes_a_waiting_reader_and_keeps_what_was_queued() -> None:
    hub = EventHub(queue_size=4, max_subscribers=2)
    subscription = hub.subscribe()
    results: list[object] = []
    reader = threading.Thread(target=lambda: results.append(subscription.get(timeout=30)))
    reader.start()
    time.sleep(0.1)
    hub.close()
    reader.join(5)
    assert results == [None]
    assert subscription.closed

    again = EventHub(queue_size=4, max_subscribers=2)
    kept = again.subscribe()
    again.publish(numbered(1))
    again.close()
    assert kept.get(timeout=0) == numbered(1)
    assert kept.get(timeout=0) is None
    assert again.subscribe().closed  # subscribing to an ended stream gives an ended queue


@pytest.mark.timeout(10)
def test_asyncio_readers_wait_without_a_thread() -> None:
    hub = EventHub(queue_size=8, max_subscribers=2)
    subscription = hub.subscribe()

    async def scenario() -> list[object]:
        got: list[object] = [await subscription.aget(timeout=0.05)]  # nothing yet: None
        publisher = threading.Timer(0.1, hub.publish, args=(numbered(7),))
        publisher.start()
        got.append(await subscription.aget(timeout=5))
        got.append(await asyncio.to_thread(subscription.get, 0.05))
        threading.Timer(0.1, subscription.close).start()
        got.append(await subscription.aget(timeout=5))
        return got

    assert asyncio.run(scenario()) == [None, numbered(7), None, None]
    assert subscription.closed
