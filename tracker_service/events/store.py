"""The event history: every event of every camera and job, with its JPEG snapshot.

`EventStore` is the small interface the service uses; `SqliteEventStore` keeps the events
in the gallery's SQLite database (its own tables beside the identities, so one file holds
who was seen and where), and another backend (PostgreSQL for scale-out) implements the same
five methods. Retention is enforced on every write: events older than `retention_days`
and the oldest beyond `max_events` are deleted with their snapshots, so a camera running for
months never fills the disk.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tracker_service.events.model import Event, EventKind

MAX_PAGE = 500
DAY_S = 86_400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    media_s REAL NOT NULL,
    source TEXT NOT NULL,
    identity_id INTEGER,
    track_id INTEGER,
    kind TEXT NOT NULL,
    name TEXT,
    direction TEXT,
    dwell_s REAL,
    label TEXT
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_identity ON events (identity_id, time);
CREATE INDEX IF NOT EXISTS events_source ON events (source, time);
CREATE TABLE IF NOT EXISTS event_snapshots (
    event_id INTEGER PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    jpeg BLOB NOT NULL
);
"""
_COLUMNS = (
    "id, time, media_s, source, identity_id, track_id, kind, name, direction, dwell_s, label, "
    "EXISTS (SELECT 1 FROM event_snapshots s WHERE s.event_id = events.id)"
)


class EventNotFoundError(LookupError):
    """No event with that id (or it was deleted by retention)."""


@dataclass(frozen=True)
class EventQuery:
    """Filters (all optional, combined with AND) and a page, newest first."""

    source: str | None = None
    identity_id: int | None = None
    kind: EventKind | None = None
    since: float | None = None
    until: float | None = None
    offset: int = 0
    limit: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
        if self.offset < 0:
            raise ValueError("offset must not be negative")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since is after until")


class EventStore(Protocol):
    def add(self, event: Event, snapshot: bytes | None) -> Event: ...

    def query(self, query: EventQuery) -> tuple[list[Event], int]: ...

    def get(self, event_id: int) -> Event: ...

    def snapshot(self, event_id: int) -> bytes | None: ...

    def reassign(self, source_id: int, target_id: int) -> None: ...

    def forget(self, identity_id: int) -> None: ...

    def close(self) -> None: ...


class SqliteEventStore:
    """Events in SQLite (the gallery's file, or memory when `path` is None)."""

    def __init__(
        self,
        path: Path | None,
        *,
        retention_days: float,
        max_events: int,
        keep_snapshots: bool = True,
    ) -> None:
        self.retention_s = retention_days * DAY_S
        self.max_events = max_events
        self.keep_snapshots = keep_snapshots
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path),
            check_same_thread=False,
            isolation_level=None,
            timeout=30.0,
        )
        self._db.execute("PRAGMA foreign_keys = ON")
        if path is not None:
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add(self, event: Event, snapshot: bytes | None) -> Event:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO events (time, media_s, source, identity_id, track_id, kind, name,"
                " direction, dwell_s, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.time,
                    event.media_s,
                    event.source,
                    event.identity_id,
                    event.track_id,
                    event.kind.value,
                    event.name,
                    event.direction,
                    event.dwell_s,
                    event.label,
                ),
            )
            event_id = int(cursor.lastrowid or 0)
            if snapshot is not None and self.keep_snapshots:
                db.execute(
                    "INSERT INTO event_snapshots (event_id, jpeg) VALUES (?, ?)",
                    (event_id, snapshot),
                )
            self._enforce_retention(db, time.time())
        return event.with_(event_id=event_id, snapshot=snapshot_url(event_id, snapshot))

    def _enforce_retention(self, db: sqlite3.Connection, now: float) -> None:
        db.execute("DELETE FROM events WHERE time < ?", (now - self.retention_s,))
        db.execute(
            "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC "
            "LIMIT 1 OFFSET ?)",
            (self.max_events,),
        )

    def query(self, query: EventQuery) -> tuple[list[Event], int]:
        where, params = _where(query)
        with self._lock:
            total = int(
                self._db.execute(f"SELECT COUNT(*) FROM events{where}", params).fetchone()[0]
            )
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM events{where} ORDER BY time DESC, id DESC "
                "LIMIT ? OFFSET ?",
                (*params, query.limit, query.offset),
            ).fetchall()
        return [_event(row) for row in rows], total

    def get(self, event_id: int) -> Event:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE id = ?", (event_id,)
            ).fetchone()
        if row is None:
            raise EventNotFoundError(event_id)
        return _event(row)

    def snapshot(self, event_id: int) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT jpeg FROM event_snapshots WHERE event_id = ?", (event_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def reassign(self, source_id: int, target_id: int) -> None:
        """Identity `source_id` was merged into `target_id`: its events are the target's."""
        with self._transaction() as db:
            db.execute(
                "UPDATE events SET identity_id = ? WHERE identity_id = ?", (target_id, source_id)
            )

    def forget(self, identity_id: int) -> None:
        """The identity was deleted: its events and snapshots go with it."""
        with self._transaction() as db:
            db.execute("DELETE FROM events WHERE identity_id = ?", (identity_id,))

    def count(self) -> tuple[int, int]:
        """(events, snapshots) stored."""
        with self._lock:
            events = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            snapshots = self._db.execute("SELECT COUNT(*) FROM event_snapshots").fetchone()[0]
        return int(events), int(snapshots)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def snapshot_url(event_id: int, snapshot: bytes | None) -> str | None:
    return f"/v1/events/{event_id}/snapshot.jpg" if snapshot is not None else None


def _where(query: EventQuery) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("source = ?", query.source),
        ("identity_id = ?", query.identity_id),
        ("kind = ?", None if query.kind is None else query.kind.value),
        ("time >= ?", query.since),
        ("time <= ?", query.until),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _event(row: tuple[Any, ...]) -> Event:
    event_id, at, media_s, source, identity, track, kind, name, direction, dwell, label, has = row
    return Event(
        EventKind(kind),
        at,
        media_s,
        source,
        identity,
        track,
        name=name,
        direction=direction,
        dwell_s=dwell,
        label=label,
        snapshot=snapshot_url(event_id, b"" if has else None),
        event_id=event_id,
    )


class StoreSink:
    """Adapts a store to the monitor's sinks and passes stored events on (to the rules)."""

    def __init__(self, store: EventStore, then: list[Any] | None = None) -> None:
        self.store = store
        self.then = then or []

    def emit(self, event: Event, snapshot: bytes | None) -> None:
        stored = self.store.add(event, snapshot)
        for sink in self.then:
            sink.emit(stored, snapshot)
