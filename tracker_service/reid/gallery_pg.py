"""The gallery's identities in PostgreSQL with pgvector: the store every node shares.

`PostgresGalleryStore` implements `GalleryStore` (the embedded SQLite store's interface) and
adds what a shared backend needs on top: the search itself (an HNSW index with cosine
distance over every exemplar, in the database, so that an identity created by one node is
found by every node at once), and the reads the embedded gallery answers from memory.

Concurrency is the database's: each operation runs in one transaction on a pooled
connection; `transaction()` makes the calls inside it share one. Row locks (`FOR UPDATE`)
serialise writers of one identity, a transaction-scoped advisory lock serialises the
creation of new identities (so two nodes seeing the same new person at the same moment make
one identity, not two), and foreign keys with `ON DELETE CASCADE` keep exemplars and
sightings from outliving their identity. A node killed in the middle of a merge leaves the
merge undone, never half done.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Collection, Iterator
from typing import LiteralString

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from tracker_service.postgres import CONNECT_TIMEOUT_S, check_reachable, open_pool
from tracker_service.reid.gallery_pg_schema import RECORD_SELECT, SCHEMA, array, stored_identity
from tracker_service.reid.gallery_store import (
    MAX_SIGHTINGS_PER_IDENTITY,
    GalleryError,
    Sighting,
    StoredIdentity,
)
from tracker_service.reid.identity_gallery import GalleryUnavailableError
from tracker_service.reid.sightings import OpenSighting
from tracker_service.types import FloatArray

# Candidates the HNSW scan returns per search (`hnsw.ef_search`): enough to find the best
# exemplar of several identities, each with up to `max_exemplars` views, when some of the
# nearest belong to excluded identities.
SEARCH_DEPTH = 200
# After a failed connection, operations fail at once for this long before trying again: a
# stream must not wait for a connection timeout on every frame while the database is away.
OFFLINE_RETRY_S = 5.0
logger = logging.getLogger(__name__)
_CREATE_LOCK = 0x7A11E  # advisory lock key: one identity creation at a time, cluster-wide


class PostgresGalleryStore:
    """Identities, exemplars, sightings and merges in one PostgreSQL database."""

    def __init__(self, url: str, dim: int, embedder_id: str) -> None:
        self.dim = dim
        check_reachable(url, "gallery")
        self._prepare(url, embedder_id)
        self._pool: ConnectionPool = open_pool(url, "gallery", configure=register_vector)
        self._local = threading.local()
        self._offline_until = 0.0
        self.offline_reason: str | None = None  # why the database is unreachable, or None

    def _prepare(self, url: str, embedder_id: str) -> None:
        """The extension, the tables and the embedder check, once, by one node at a time."""
        with psycopg.connect(url) as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK + 1,))
            try:
                db.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise GalleryError(
                    f"the gallery database lacks pgvector ({exc.diag.message_primary}); "
                    "use a PostgreSQL with the vector extension (image pgvector/pgvector)"
                ) from None
            db.execute(SCHEMA.format(dim=int(self.dim)))
            rows = db.execute("SELECT key, value FROM gallery_meta").fetchall()
            stored = {str(key): str(value) for key, value in rows}
            if not stored:
                db.execute(
                    "INSERT INTO gallery_meta (key, value) VALUES ('dim', %s), ('embedder', %s)",
                    (str(self.dim), embedder_id),
                )
                return
        if int(stored["dim"]) != self.dim or stored["embedder"] != embedder_id:
            raise GalleryError(
                f"the gallery database was built with embedder {stored['embedder']!r} "
                f"({stored['dim']}-d), not {embedder_id!r} ({self.dim}-d): their embeddings are "
                "not comparable; use another database for this model"
            )

    # -- connections and transactions ---------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Calls inside share one connection and commit together (or not at all)."""
        if getattr(self._local, "db", None) is not None:
            yield  # nested: part of the outer transaction
            return
        with self._connection() as db:
            self._local.db = db
            try:
                with db.transaction():
                    yield
            finally:
                self._local.db = None

    @contextlib.contextmanager
    def _db(self) -> Iterator[psycopg.Connection[TupleRow]]:
        current = getattr(self._local, "db", None)
        if current is not None:
            yield current
            return
        with self._connection() as db:
            yield db

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[TupleRow]]:
        """A pooled connection; `GalleryUnavailableError` when the database cannot be
        reached, at once (without waiting for the pool) for `OFFLINE_RETRY_S` after that."""
        if time.monotonic() < self._offline_until:
            raise GalleryUnavailableError(self.offline_reason or "unreachable")
        try:
            with self._pool.connection(timeout=CONNECT_TIMEOUT_S) as db:
                yield db
        except (psycopg.OperationalError, PoolTimeout) as exc:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            self.offline_reason = f"the gallery database is unreachable: {reason}"
            self._offline_until = time.monotonic() + OFFLINE_RETRY_S
            logger.warning("%s; retrying in %.0f s", self.offline_reason, OFFLINE_RETRY_S)
            raise GalleryUnavailableError(self.offline_reason) from None
        self.offline_reason = None

    def close(self) -> None:
        self._pool.close()

    # -- searching (shared: in the database) --------------------------------------------------

    def search(self, unit: FloatArray, exclude: Collection[int]) -> dict[int, float]:
        """Per identity among the nearest exemplars, its best cosine similarity."""
        with self.transaction(), self._db() as db:
            db.execute(f"SET LOCAL hnsw.ef_search = {SEARCH_DEPTH}")
            rows = db.execute(
                "SELECT identity_id, 1 - (vector <=> %s) FROM gallery_exemplars "
                "ORDER BY vector <=> %s LIMIT %s",
                (unit, unit, SEARCH_DEPTH),
            ).fetchall()
        best: dict[int, float] = {}
        for identity_id, similarity in rows:
            if identity_id not in exclude and identity_id not in best:
                best[int(identity_id)] = float(similarity)
        return best

    def lock_creation(self) -> None:
        """Inside a transaction: wait for other nodes' identity creations to commit."""
        with self._db() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))

    def lock_identity(self, identity_id: int) -> list[tuple[int, FloatArray]]:
        """Inside a transaction: lock the identity's row; its exemplars (id, vector) oldest
        first, or an empty list when it no longer exists."""
        with self._db() as db:
            if (
                db.execute(
                    "SELECT 1 FROM gallery_identities WHERE id = %s FOR UPDATE", (identity_id,)
                ).fetchone()
                is None
            ):
                return []
            rows = db.execute(
                "SELECT id, vector FROM gallery_exemplars WHERE identity_id = %s ORDER BY id",
                (identity_id,),
            ).fetchall()
        return [(int(exemplar_id), array(vector)) for exemplar_id, vector in rows]

    def exemplars_of(self, identity_id: int) -> list[FloatArray]:
        """One identity's exemplar vectors, oldest first (empty when it has none)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT vector FROM gallery_exemplars WHERE identity_id = %s ORDER BY id",
                (identity_id,),
            ).fetchall()
        return [array(vector) for (vector,) in rows]

    def aliases_from(self, identity_id: int, max_hops: int) -> list[int]:
        """The identities `identity_id` was merged into, in order (empty: never merged)."""
        with self._db() as db:
            rows = db.execute(
                "WITH RECURSIVE chain(id, hops) AS (SELECT new_id, 1 FROM gallery_aliases "
                "WHERE old_id = %s UNION ALL SELECT a.new_id, c.hops + 1 FROM gallery_aliases a "
                "JOIN chain c ON a.old_id = c.id WHERE c.hops < %s) "
                "SELECT id FROM chain ORDER BY hops",
                (identity_id, max_hops),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def _one(self, query: LiteralString, params: tuple[object, ...] = ()) -> TupleRow | None:
        """The first row of `query` (on the transaction's connection, if in one)."""
        with self._db() as db:
            return db.execute(query, params).fetchone()

    def count_identities(self) -> int:
        row = self._one("SELECT count(*) FROM gallery_identities")
        return int(row[0]) if row else 0

    def count_exemplars(self, identity_id: int | None = None) -> int:
        query = (
            "SELECT count(*) FROM gallery_exemplars WHERE %s::bigint IS NULL OR identity_id = %s"
        )
        row = self._one(query, (identity_id, identity_id))
        return int(row[0]) if row else 0

    def exists(self, identity_id: int) -> bool:
        return (
            self._one("SELECT 1 FROM gallery_identities WHERE id = %s", (identity_id,)) is not None
        )

    def label(self, identity_id: int) -> str | None:
        row = self._one("SELECT label FROM gallery_identities WHERE id = %s", (identity_id,))
        return None if row is None else row[0]

    # -- GalleryStore: loading ----------------------------------------------------------------

    def labels(self) -> list[tuple[int, str | None]]:
        with self._db() as db:
            return [
                (int(i), label)
                for i, label in db.execute("SELECT id, label FROM gallery_identities")
            ]

    def exemplars(self) -> list[tuple[int, int, FloatArray]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT id, identity_id, vector FROM gallery_exemplars ORDER BY id"
            ).fetchall()
        return [(int(e), int(i), array(v)) for e, i, v in rows]

    def aliases(self) -> dict[int, int]:
        with self._db() as db:
            rows = db.execute("SELECT old_id, new_id FROM gallery_aliases").fetchall()
        return {int(old): int(new) for old, new in rows}

    # -- GalleryStore: writing ----------------------------------------------------------------

    def insert_identity(self, now: float, thumbnail: bytes | None) -> int:
        row = self._one(
            "INSERT INTO gallery_identities (label, created_at, first_seen, last_seen, "
            "thumbnail) VALUES (NULL, %s, %s, %s, %s) RETURNING id",
            (now, now, now, thumbnail),
        )
        assert row is not None
        return int(row[0])

    def delete_identity(self, identity_id: int) -> None:
        # Exemplars and sightings go with it (ON DELETE CASCADE).
        self._one("DELETE FROM gallery_identities WHERE id = %s RETURNING id", (identity_id,))

    def insert_exemplar(self, identity_id: int, unit: FloatArray, now: float) -> int:
        row = self._one(
            "INSERT INTO gallery_exemplars (identity_id, vector, created_at) "
            "VALUES (%s, %s, %s) RETURNING id",
            (identity_id, np.asarray(unit, np.float32), now),
        )
        assert row is not None
        return int(row[0])

    def delete_exemplar(self, exemplar_id: int) -> None:
        self._one("DELETE FROM gallery_exemplars WHERE id = %s RETURNING id", (exemplar_id,))

    def set_label(self, identity_id: int, label: str | None) -> None:
        self._one(
            "UPDATE gallery_identities SET label = %s WHERE id = %s RETURNING id",
            (label, identity_id),
        )

    def merge_rows(self, target_id: int, source_id: int) -> str | None:
        """Move `source_id`'s sightings, seen times and (if unset) label onto `target_id`;
        the target's label afterwards. Aliases that pointed at the source follow it."""
        with self._db() as db:
            db.execute(
                "UPDATE gallery_sightings SET identity_id = %s WHERE identity_id = %s",
                (target_id, source_id),
            )
            row = db.execute(
                "UPDATE gallery_identities t SET first_seen = LEAST(t.first_seen, s.first_seen), "
                "last_seen = GREATEST(t.last_seen, s.last_seen), "
                "label = COALESCE(t.label, s.label) FROM gallery_identities s "
                "WHERE t.id = %s AND s.id = %s RETURNING t.label",
                (target_id, source_id),
            ).fetchone()
            db.execute(
                "UPDATE gallery_aliases SET new_id = %s WHERE new_id = %s", (target_id, source_id)
            )
        return None if row is None else row[0]

    def add_alias(self, old_id: int, new_id: int) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO gallery_aliases (old_id, new_id) VALUES (%s, %s) "
                "ON CONFLICT (old_id) DO UPDATE SET new_id = EXCLUDED.new_id",
                (old_id, new_id),
            )

    def write_sighting(self, sighting: OpenSighting) -> int:
        """Insert or update the sighting's row and its identity's seen times; its row id
        (0 when the identity is gone: deleted or merged away by another node)."""
        times = (sighting.first_seen, sighting.last_seen)
        media = (sighting.first_media_s, sighting.last_media_s)
        with self._db() as db:
            if sighting.row_id is None:
                row = db.execute(
                    "INSERT INTO gallery_sightings (identity_id, source, track_id, first_seen, "
                    "last_seen, first_media_s, last_media_s) SELECT %s, %s, %s, %s, %s, %s, %s "
                    "WHERE EXISTS (SELECT 1 FROM gallery_identities WHERE id = %s) RETURNING id",
                    (sighting.identity_id, sighting.source, sighting.track_id, *times, *media,
                     sighting.identity_id),
                ).fetchone()  # fmt: skip
                row_id = 0 if row is None else int(row[0])
                self._trim_sightings(db, sighting.identity_id)
            else:
                row_id = sighting.row_id
                db.execute(
                    "UPDATE gallery_sightings SET first_seen = %s, last_seen = %s, "
                    "first_media_s = %s, last_media_s = %s WHERE id = %s",
                    (*times, *media, row_id),
                )
            db.execute(
                "UPDATE gallery_identities SET first_seen = LEAST(first_seen, %s), "
                "last_seen = GREATEST(last_seen, %s) WHERE id = %s",
                (*times, sighting.identity_id),
            )
        return row_id

    @staticmethod
    def _trim_sightings(db: psycopg.Connection[TupleRow], identity_id: int) -> None:
        db.execute(
            "DELETE FROM gallery_sightings WHERE identity_id = %s AND id NOT IN (SELECT id FROM "
            "gallery_sightings WHERE identity_id = %s ORDER BY last_seen DESC LIMIT %s)",
            (identity_id, identity_id, MAX_SIGHTINGS_PER_IDENTITY),
        )

    # -- GalleryStore: reading ----------------------------------------------------------------

    def oldest_unlabelled(self, keep: int, count: int) -> list[int]:
        with self._db() as db:
            rows = db.execute(
                "SELECT id FROM gallery_identities WHERE label IS NULL AND id != %s "
                "ORDER BY last_seen LIMIT %s",
                (keep, count),
            ).fetchall()
        return [int(identity_id) for (identity_id,) in rows]

    def identity(self, identity_id: int) -> StoredIdentity:
        with self._db() as db:
            row = db.execute(f"{RECORD_SELECT} WHERE i.id = %s", (identity_id,)).fetchone()
        if row is None:
            raise KeyError(identity_id)
        return stored_identity(row)

    def identities(self, offset: int, limit: int) -> tuple[list[StoredIdentity], int]:
        with self._db() as db:
            rows = db.execute(
                f"{RECORD_SELECT} ORDER BY i.last_seen DESC, i.id DESC LIMIT %s OFFSET %s",
                (limit, offset),
            ).fetchall()
            total = db.execute("SELECT count(*) FROM gallery_identities").fetchone()
        return [stored_identity(row) for row in rows], int(total[0]) if total else 0

    def sightings(self, identity_id: int, limit: int) -> list[Sighting]:
        with self._db() as db:
            rows = db.execute(
                "SELECT source, track_id, first_seen, last_seen, first_media_s, last_media_s "
                "FROM gallery_sightings WHERE identity_id = %s ORDER BY last_seen DESC LIMIT %s",
                (identity_id, limit),
            ).fetchall()
        return [Sighting(*row) for row in rows]

    def thumbnail(self, identity_id: int) -> bytes | None:
        row = self._one("SELECT thumbnail FROM gallery_identities WHERE id = %s", (identity_id,))
        return None if row is None else row[0]
