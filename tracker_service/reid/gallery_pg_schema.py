"""The PostgreSQL gallery's tables (pgvector's `vector` type, an HNSW cosine index) and the
conversions of its rows."""

from __future__ import annotations

import numpy as np
from pgvector import Vector
from psycopg.rows import TupleRow

from tracker_service.reid.gallery_store import StoredIdentity
from tracker_service.types import FloatArray

SCHEMA = """
CREATE TABLE IF NOT EXISTS gallery_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS gallery_identities (
    id bigserial PRIMARY KEY,
    label text,
    created_at double precision NOT NULL,
    first_seen double precision NOT NULL,
    last_seen double precision NOT NULL,
    thumbnail bytea
);
CREATE TABLE IF NOT EXISTS gallery_exemplars (
    id bigserial PRIMARY KEY,
    identity_id bigint NOT NULL REFERENCES gallery_identities(id) ON DELETE CASCADE,
    vector vector({dim}) NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS gallery_exemplars_by_identity ON gallery_exemplars (identity_id);
CREATE INDEX IF NOT EXISTS gallery_exemplars_hnsw ON gallery_exemplars
    USING hnsw (vector vector_cosine_ops);
CREATE TABLE IF NOT EXISTS gallery_sightings (
    id bigserial PRIMARY KEY,
    identity_id bigint NOT NULL REFERENCES gallery_identities(id) ON DELETE CASCADE,
    source text NOT NULL,
    track_id bigint NOT NULL,
    first_seen double precision NOT NULL,
    last_seen double precision NOT NULL,
    first_media_s double precision NOT NULL,
    last_media_s double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS gallery_sightings_by_identity
    ON gallery_sightings (identity_id, last_seen);
CREATE TABLE IF NOT EXISTS gallery_aliases (old_id bigint PRIMARY KEY, new_id bigint NOT NULL);
"""
RECORD_SELECT = (
    "SELECT i.id, i.label, i.created_at, i.first_seen, i.last_seen, i.thumbnail IS NOT NULL, "
    "ARRAY(SELECT DISTINCT source FROM gallery_sightings s WHERE s.identity_id = i.id "
    "ORDER BY source) FROM gallery_identities i"
)


def array(value: object) -> FloatArray:
    """A vector column as float32 numpy (pgvector's loader gives a `Vector` or an array)."""
    if isinstance(value, Vector):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)


def stored_identity(row: TupleRow) -> StoredIdentity:
    return StoredIdentity(
        identity_id=row[0],
        label=row[1],
        created_at=row[2],
        first_seen=row[3],
        last_seen=row[4],
        sources=tuple(row[6]),
        has_thumbnail=bool(row[5]),
    )
