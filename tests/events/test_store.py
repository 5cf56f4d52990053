"""The event history: filters, paging, snapshots, retention by count and by age."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tracker_service.events.model import Event, EventKind
from tracker_service.events.store import EventNotFoundError, EventQuery, SqliteEventStore

JPEG = b"\xff\xd8\xff\xe0fake-but-stored-as-is\xff\xd9"


def event(at: float, source: str = "stream:a", identity: int | None = 1, **kw: object) -> Event:
    kind = kw.pop("kind", EventKind.APPEARED)
    return Event(kind, at, 0.0, source, identity, 3, **kw)  # type: ignore[arg-type]


def test_filters_paging_and_snapshots(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "gallery.sqlite", retention_days=30, max_events=1000)
    now = time.time()
    for n in range(10):
        store.add(event(now - 100 + n, identity=n % 2), JPEG if n == 9 else None)
    store.add(event(now, "job:x", None, kind=EventKind.CROSSED_LINE, name="door"), None)
    items, total = store.query(EventQuery(identity_id=1, limit=3))
    assert total == 5 and len(items) == 3
    assert [e.time for e in items] == sorted((e.time for e in items), reverse=True)
    assert items[0].snapshot == f"/v1/events/{items[0].event_id}/snapshot.jpg"
    assert store.snapshot(items[0].event_id or 0) == JPEG
    assert items[1].snapshot is None and store.snapshot(items[1].event_id or 0) is None
    page2, _ = store.query(EventQuery(identity_id=1, limit=3, offset=3))
    assert len(page2) == 2 and not {e.event_id for e in page2} & {e.event_id for e in items}
    crossings, total = store.query(EventQuery(source="job:x", kind=EventKind.CROSSED_LINE))
    assert total == 1 and crossings[0].name == "door"
    _, total = store.query(EventQuery(since=now - 95, until=now - 92))
    assert total == 4
    with pytest.raises(EventNotFoundError):
        store.get(10_000)
    store.close()
    # Persistent: a new store on the same file finds them.
    again = SqliteEventStore(tmp_path / "gallery.sqlite", retention_days=30, max_events=1000)
    assert again.count() == (11, 1)


def test_retention_keeps_the_store_within_its_bounds() -> None:
    store = SqliteEventStore(None, retention_days=1, max_events=50)
    now = time.time()
    for n in range(20):  # two days old: deleted by age as soon as anything is written
        store.add(event(now - 2 * 86_400 + n), JPEG)
    for n in range(200):  # four times the count bound
        store.add(event(now + n), JPEG)
        events, snapshots = store.count()
        assert events <= 50 and snapshots <= 50
    items, total = store.query(EventQuery(limit=500))
    assert total == 50
    assert min(e.time for e in items) == pytest.approx(now + 150)  # the newest kept


def test_bad_queries_are_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        EventQuery(limit=0)
    with pytest.raises(ValueError, match="since is after until"):
        EventQuery(since=2.0, until=1.0)


def test_merged_identities_share_events_and_forgotten_ones_lose_them() -> None:
    store = SqliteEventStore(None, retention_days=1, max_events=100)
    now = time.time()
    for identity in (1, 2, 2, 3):
        store.add(event(now, identity=identity), JPEG)
    store.reassign(2, 1)
    assert store.query(EventQuery(identity_id=1))[1] == 3
    assert store.query(EventQuery(identity_id=2))[1] == 0
    store.forget(1)
    assert store.count() == (1, 1)  # snapshots deleted with their events
