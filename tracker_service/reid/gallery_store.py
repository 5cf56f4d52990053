"""Where the gallery's identities live durably: the `GalleryStore` interface and SQLite.

The store is the source of truth (identities, exemplar vectors, sightings, labels, merges),
written through in transactions, so a crash loses nothing committed; the FAISS index and
the open sightings are rebuilt from it or buffered in front of it. `GalleryStore` is what a
shared backend (PostgreSQL for several service instances) implements; `SqliteGalleryStore`
is the embedded default. Not thread-safe: the `Gallery` facade holds the lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from tracker_service.reid.sightings import OpenSighting
from tracker_service.types import FloatArray

DB_NAME = "gallery.sqlite"
MAX_SIGHTINGS_PER_IDENTITY = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT,
    created_at REAL NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    thumbnail BLOB
);
CREATE TABLE IF NOT EXISTS exemplars (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    vector BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sightings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    first_media_s REAL NOT NULL,
    last_media_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (old_id INTEGER PRIMARY KEY, new_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS exemplars_by_identity ON exemplars(identity_id);
CREATE INDEX IF NOT EXISTS sightings_by_identity ON sightings(identity_id, last_seen);
"""


# One statement per page of identities, their streams included (no query per identity).
# Stream names may hold commas, hence the ASCII unit separator between them.
_SOURCE_SEPARATOR = "\x1f"
_RECORD_SELECT = (
    "SELECT i.id, i.label, i.created_at, i.first_seen, i.last_seen, i.thumbnail IS NOT NULL, "
    "(SELECT group_concat(source, char(31)) FROM (SELECT DISTINCT source FROM sightings s "
    "WHERE s.identity_id = i.id ORDER BY source)) FROM identities i"
)


class GalleryError(RuntimeError):
    """The gallery cannot be opened or used as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Sighting:
    source: str
    track_id: int
    first_seen: float
    last_seen: float
    first_media_s: float
    last_media_s: float


@dataclass(frozen=True, slots=True)
class StoredIdentity:
    """An identity as stored (the exemplar count is the index's)."""

    identity_id: int
    label: str | None
    created_at: float
    first_seen: float
    last_seen: float
    sources: tuple[str, ...]
    has_thumbnail: bool


class GalleryStore(Protocol):
    """Durable identities, exemplars, sightings and merges. Writes happen inside
    `transaction()`; reads may happen outside one."""

    def transaction(self) -> AbstractContextManager[None]: ...
    def close(self) -> None: ...

    # loading (on open)
    def labels(self) -> list[tuple[int, str | None]]: ...
    def exemplars(self) -> list[tuple[int, int, FloatArray]]: ...
    def aliases(self) -> dict[int, int]: ...

    # writing
    def insert_identity(self, now: float, thumbnail: bytes | None) -> int: ...
    def delete_identity(self, identity_id: int) -> None: ...
    def insert_exemplar(self, identity_id: int, unit: FloatArray, now: float) -> int: ...
    def delete_exemplar(self, exemplar_id: int) -> None: ...
    def set_label(self, identity_id: int, label: str | None) -> None: ...
    def merge_rows(self, target_id: int, source_id: int) -> str | None: ...
    def add_alias(self, old_id: int, new_id: int) -> None: ...
    def write_sighting(self, sighting: OpenSighting) -> int: ...

    # reading
    def oldest_unlabelled(self, keep: int, count: int) -> list[int]: ...
    def identity(self, identity_id: int) -> StoredIdentity: ...
    def identities(self, offset: int, limit: int) -> tuple[list[StoredIdentity], int]: ...
    def sightings(self, identity_id: int, limit: int) -> list[Sighting]: ...
    def thumbnail(self, identity_id: int) -> bytes | None: ...


class SqliteGalleryStore:
    """The embedded store: one SQLite file (`gallery.sqlite`) in the gallery folder, or
    memory only when there is no folder."""

    def __init__(self, directory: Path | None, dim: int, embedder_id: str) -> None:
        self.directory = directory
        self.dim = dim
        self._db = self._connect(directory)
        self._check_meta(embedder_id)

    def _connect(self, directory: Path | None) -> sqlite3.Connection:
        if directory is None:
            target = ":memory:"
        else:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise GalleryError(f"cannot create gallery folder {directory}: {exc}") from None
            target = str(directory / DB_NAME)
        try:
            db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"gallery database {target} cannot be used: {exc}") from None
        return db

    def _check_meta(self, embedder_id: str) -> None:
        stored = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not stored:
            with self.transaction():
                self._db.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [("dim", str(self.dim)), ("embedder", embedder_id)],
                )
            return
        if int(stored["dim"]) != self.dim:
            raise GalleryError(
                f"gallery {self.directory} holds {stored['dim']}-d embeddings but the embedder "
                f"gives {self.dim}-d ones; use another gallery folder for this model"
            )
        if stored["embedder"] != embedder_id:
            raise GalleryError(
                f"gallery {self.directory} was built with embedder {stored['embedder']!r}, "
                f"not {embedder_id!r}: their embeddings are not comparable; use another "
                "gallery folder for this model"
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # -- loading --------------------------------------------------------------------------------

    def labels(self) -> list[tuple[int, str | None]]:
        return list(self._db.execute("SELECT id, label FROM identities"))

    def exemplars(self) -> list[tuple[int, int, FloatArray]]:
        rows = self._db.execute(
            "SELECT id, identity_id, vector FROM exemplars ORDER BY id"
        ).fetchall()
        return [
            (exemplar_id, identity_id, np.frombuffer(blob, dtype=np.float32).copy())
            for exemplar_id, identity_id, blob in rows
        ]

    def aliases(self) -> dict[int, int]:
        return dict(self._db.execute("SELECT old_id, new_id FROM aliases").fetchall())

    # -- writing --------------------------------------------------------------------------------

    def insert_identity(self, now: float, thumbnail: bytes | None) -> int:
        cursor = self._db.execute(
            "INSERT INTO identities(label, created_at, first_seen, last_seen, thumbnail) "
            "VALUES (NULL, ?, ?, ?, ?)",
            (now, now, now, thumbnail),
        )
        return int(cursor.lastrowid or 0)

    def delete_identity(self, identity_id: int) -> None:
        self._db.execute("DELETE FROM identities WHERE id = ?", (identity_id,))

    def insert_exemplar(self, identity_id: int, unit: FloatArray, now: float) -> int:
        cursor = self._db.execute(
            "INSERT INTO exemplars(identity_id, vector, created_at) VALUES (?, ?, ?)",
            (identity_id, unit.astype(np.float32).tobytes(), now),
        )
        return int(cursor.lastrowid or 0)

    def delete_exemplar(self, exemplar_id: int) -> None:
        self._db.execute("DELETE FROM exemplars WHERE id = ?", (exemplar_id,))

    def set_label(self, identity_id: int, label: str | None) -> None:
        self._db.execute("UPDATE identities SET label = ? WHERE id = ?", (label, identity_id))

    def merge_rows(self, target_id: int, source_id: int) -> str | None:
        """Move `source_id`'s sightings, seen times and (if unset) label onto `target_id`;
        the target's label afterwards."""
        self._db.execute(
            "UPDATE sightings SET identity_id = ? WHERE identity_id = ?",
            (target_id, source_id),
        )
        self._db.execute(
            "UPDATE identities SET "
            "first_seen = MIN(first_seen, (SELECT first_seen FROM identities "
            "WHERE id = :s)), "
            "last_seen = MAX(last_seen, (SELECT last_seen FROM identities WHERE id = :s)),"
            " label = COALESCE(label, (SELECT label FROM identities WHERE id = :s)) "
            "WHERE id = :t",
            {"s": source_id, "t": target_id},
        )
        label: str | None = self._db.execute(
            "SELECT label FROM identities WHERE id = ?", (target_id,)
        ).fetchone()[0]
        return label

    def add_alias(self, old_id: int, new_id: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO aliases(old_id, new_id) VALUES (?, ?)", (old_id, new_id)
        )

    def write_sighting(self, sighting: OpenSighting) -> int:
        """Insert or update the sighting's row and its identity's seen times; its row id."""
        values = (
            sighting.first_seen,
            sighting.last_seen,
            sighting.first_media_s,
            sighting.last_media_s,
        )
        row_id = sighting.row_id
        if row_id is None:
            cursor = self._db.execute(
                "INSERT INTO sightings(identity_id, source, track_id, first_seen, last_seen, "
                "first_media_s, last_media_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sighting.identity_id, sighting.source, sighting.track_id, *values),
            )
            row_id = int(cursor.lastrowid or 0)
            self._trim_sightings(sighting.identity_id)
        else:
            self._db.execute(
                "UPDATE sightings SET first_seen = ?, last_seen = ?, first_media_s = ?, "
                "last_media_s = ? WHERE id = ?",
                (*values, row_id),
            )
        self._db.execute(
            "UPDATE identities SET first_seen = MIN(first_seen, ?), "
            "last_seen = MAX(last_seen, ?) WHERE id = ?",
            (sighting.first_seen, sighting.last_seen, sighting.identity_id),
        )
        return row_id

    def _trim_sightings(self, identity_id: int) -> None:
        self._db.execute(
            "DELETE FROM sightings WHERE identity_id = ? AND id NOT IN (SELECT id FROM "
            "sightings WHERE identity_id = ? ORDER BY last_seen DESC LIMIT ?)",
            (identity_id, identity_id, MAX_SIGHTINGS_PER_IDENTITY),
        )

    # -- reading --------------------------------------------------------------------------------

    def oldest_unlabelled(self, keep: int, count: int) -> list[int]:
        """Up to `count` unlabelled identities seen longest ago, never `keep`."""
        rows = self._db.execute(
            "SELECT id FROM identities WHERE label IS NULL AND id != ? ORDER BY last_seen LIMIT ?",
            (keep, count),
        ).fetchall()
        return [identity_id for (identity_id,) in rows]

    def identity(self, identity_id: int) -> StoredIdentity:
        row = self._db.execute(f"{_RECORD_SELECT} WHERE i.id = ?", (identity_id,)).fetchone()
        return _stored(row)

    def identities(self, offset: int, limit: int) -> tuple[list[StoredIdentity], int]:
        rows = self._db.execute(
            f"{_RECORD_SELECT} ORDER BY i.last_seen DESC, i.id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        total = int(self._db.execute("SELECT COUNT(*) FROM identities").fetchone()[0])
        return [_stored(row) for row in rows], total

    def sightings(self, identity_id: int, limit: int) -> list[Sighting]:
        rows = self._db.execute(
            "SELECT source, track_id, first_seen, last_seen, first_media_s, last_media_s "
            "FROM sightings WHERE identity_id = ? ORDER BY last_seen DESC LIMIT ?",
            (identity_id, limit),
        ).fetchall()
        return [Sighting(*row) for row in rows]

    def thumbnail(self, identity_id: int) -> bytes | None:
        row = self._db.execute(
            "SELECT thumbnail FROM identities WHERE id = ?", (identity_id,)
        ).fetchone()
        return None if row is None else row[0]


def _stored(row: tuple[int, str | None, float, float, float, int, str | None]) -> StoredIdentity:
    return StoredIdentity(
        identity_id=row[0],
        label=row[1],
        created_at=row[2],
        first_seen=row[3],
        last_seen=row[4],
        sources=tuple(row[6].split(_SOURCE_SEPARATOR)) if row[6] else (),
        has_thumbnail=bool(row[5]),
    )
