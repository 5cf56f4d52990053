"""The identity gallery: global identities shared by every stream, searchable with FAISS.

Each identity keeps a bounded set of exemplar embeddings (unit vectors). A track's embedding
is matched by inner product (= cosine similarity) against every exemplar; the best identity
above `match_threshold` is taken, otherwise a new identity is created.

Storage: SQLite is the source of truth (identities, exemplar vectors, sightings, labels,
merges), written through in transactions, so a crash loses nothing committed. The FAISS
index is rebuilt from it on open and also saved beside it (`index.faiss`, written to a temp
file and renamed) for a faster start; a stale or missing index file is rebuilt.
Thread-safe: one lock guards the index and the database connection.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from tracker_service.config import GalleryConfig
from tracker_service.types import FloatArray

DB_NAME = "gallery.sqlite"
INDEX_NAME = "index.faiss"
SEARCH_DEPTH = 256
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
class Match:
    identity_id: int
    similarity: float


@dataclass(frozen=True, slots=True)
class Resolution:
    identity_id: int
    similarity: float
    created: bool


@dataclass(frozen=True, slots=True)
class Sighting:
    source: str
    track_id: int
    first_seen: float
    last_seen: float
    first_media_s: float
    last_media_s: float


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    identity_id: int
    label: str | None
    created_at: float
    first_seen: float
    last_seen: float
    exemplars: int
    sources: tuple[str, ...]
    has_thumbnail: bool


@dataclass(slots=True)
class _OpenSighting:
    row_id: int | None
    identity_id: int
    source: str
    track_id: int
    first_seen: float
    last_seen: float
    first_media_s: float
    last_media_s: float
    dirty: bool = True


@dataclass(slots=True)
class _Exemplars:
    ids: list[int] = field(default_factory=list)
    vectors: list[FloatArray] = field(default_factory=list)


def _unit(vector: FloatArray) -> FloatArray:
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(flat))
    if not np.isfinite(norm) or norm == 0.0:
        raise GalleryError("embedding must be a finite, non-zero vector")
    result: FloatArray = flat / norm
    return result


class Gallery:
    """Global identities with exemplars; one instance is shared by all streams."""

    def __init__(
        self,
        config: GalleryConfig,
        dim: int,
        directory: Path | None = None,
        embedder_id: str = "unknown",
    ) -> None:
        self.config = config
        self.dim = dim
        self.directory = directory
        self._lock = threading.RLock()
        self._db = self._connect(directory)
        self._check_meta(embedder_id)
        # Typed loosely: faiss's generated stubs do not describe its numpy-friendly wrappers
        # (add_with_ids, search and remove_ids accept arrays at run time).
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._exemplar_owner: dict[int, int] = {}
        self._exemplars: dict[int, _Exemplars] = {}
        self._labels: dict[int, str | None] = {}
        self._aliases: dict[int, int] = {}
        self._open_sightings: dict[tuple[int, str, int], _OpenSighting] = {}
        self._load()

    # -- opening and persistence ------------------------------------------------------------

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
            with self._transaction():
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

    def _load(self) -> None:
        for identity_id, label in self._db.execute("SELECT id, label FROM identities"):
            self._labels[identity_id] = label
            self._exemplars[identity_id] = _Exemplars()
        rows = self._db.execute(
            "SELECT id, identity_id, vector FROM exemplars ORDER BY id"
        ).fetchall()
        for exemplar_id, identity_id, blob in rows:
            vector = np.frombuffer(blob, dtype=np.float32).copy()
            self._exemplars[identity_id].ids.append(exemplar_id)
            self._exemplars[identity_id].vectors.append(vector)
            self._exemplar_owner[exemplar_id] = identity_id
        self._aliases = dict(self._db.execute("SELECT old_id, new_id FROM aliases").fetchall())
        if not self._load_index_file(len(rows)):
            self._rebuild_index()

    def _load_index_file(self, expected: int) -> bool:
        if self.directory is None or not (self.directory / INDEX_NAME).is_file():
            return False
        try:
            index: Any = faiss.read_index(str(self.directory / INDEX_NAME))
        except RuntimeError:
            return False
        stored_ids = set(faiss.vector_to_array(index.id_map).tolist()) if expected else set()
        if (
            index.ntotal != expected
            or index.d != self.dim
            or stored_ids != set(self._exemplar_owner)
        ):
            return False
        self._index = index
        return True

    def _rebuild_index(self) -> None:
        self._index.reset()
        for group in self._exemplars.values():
            if group.ids:
                self._index.add_with_ids(np.stack(group.vectors), np.array(group.ids, np.int64))

    def save(self) -> None:
        """Flush sightings and write the FAISS index file atomically."""
        with self._lock:
            self.flush()
            if self.directory is None:
                return
            target = self.directory / INDEX_NAME
            partial = target.with_suffix(".faiss.partial")
            faiss.write_index(self._index, str(partial))
            os.replace(partial, target)

    def close(self) -> None:
        with self._lock:
            self.save()
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- matching -----------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._exemplars)

    @property
    def exemplar_count(self) -> int:
        with self._lock:
            return int(self._index.ntotal)

    def search(self, vector: FloatArray, k: int = 5, exclude: Collection[int] = ()) -> list[Match]:
        """The best `k` identities for `vector`, by their best exemplar's similarity."""
        query = _unit(vector).reshape(1, -1)
        with self._lock:
            if self._index.ntotal == 0:
                return []
            depth = min(int(self._index.ntotal), SEARCH_DEPTH)
            similarities, ids = self._index.search(query, depth)
            best: dict[int, float] = {}
            for similarity, exemplar_id in zip(similarities[0], ids[0], strict=True):
                owner = self._exemplar_owner.get(int(exemplar_id))
                if owner is None or owner in exclude or owner in best:
                    continue
                best[owner] = float(similarity)
        ranked = sorted(best.items(), key=lambda item: -item[1])[:k]
        return [Match(identity_id, similarity) for identity_id, similarity in ranked]

    def resolve(
        self,
        vector: FloatArray,
        exclude: Collection[int] = (),
        thumbnail: bytes | None = None,
        now: float | None = None,
    ) -> Resolution:
        """The identity `vector` belongs to, created when nothing is similar enough.

        `exclude` lists identities that cannot be this person (others in view right now).
        """
        unit = _unit(vector)
        now = time.time() if now is None else now
        with self._lock:
            matches = self.search(unit, k=1, exclude=exclude)
            if matches and matches[0].similarity >= self.config.match_threshold:
                best = matches[0]
                self.add_exemplar(best.identity_id, unit)
                return Resolution(best.identity_id, best.similarity, created=False)
            identity_id = self._create(unit, thumbnail, now)
            return Resolution(identity_id, matches[0].similarity if matches else 0.0, True)

    def add_exemplar(
        self, identity_id: int, vector: FloatArray, min_similarity: float | None = None
    ) -> bool:
        """Keep `vector` as an exemplar if it adds a view the identity does not have yet.

        With `min_similarity`, a vector that does not look enough like the identity already
        is refused: a sample taken during a crossing must not teach the identity a stranger.
        """
        unit = _unit(vector)
        with self._lock:
            group = self._exemplars.get(identity_id)
            if group is None:
                return False
            if group.vectors:
                closest = float(np.max(np.stack(group.vectors) @ unit))
                if closest > 1.0 - self.config.exemplar_min_distance:
                    return False
                if min_similarity is not None and closest < min_similarity:
                    return False
            with self._transaction():
                self._insert_exemplar(identity_id, unit, time.time())
                while len(group.ids) > self.config.max_exemplars:
                    # Keep the first view (what the identity was created from), drop the
                    # oldest of the others.
                    self._delete_exemplar(identity_id, group.ids[1])
            return True

    def _create(self, unit: FloatArray, thumbnail: bytes | None, now: float) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO identities(label, created_at, first_seen, last_seen, thumbnail) "
                "VALUES (NULL, ?, ?, ?, ?)",
                (now, now, now, thumbnail),
            )
            identity_id = int(cursor.lastrowid or 0)
            self._exemplars[identity_id] = _Exemplars()
            self._labels[identity_id] = None
            self._insert_exemplar(identity_id, unit, now)
            self._enforce_identity_bound(keep=identity_id)
        return identity_id

    def _insert_exemplar(self, identity_id: int, unit: FloatArray, now: float) -> None:
        cursor = self._db.execute(
            "INSERT INTO exemplars(identity_id, vector, created_at) VALUES (?, ?, ?)",
            (identity_id, unit.astype(np.float32).tobytes(), now),
        )
        exemplar_id = int(cursor.lastrowid or 0)
        self._index.add_with_ids(unit.reshape(1, -1), np.array([exemplar_id], np.int64))
        self._exemplars[identity_id].ids.append(exemplar_id)
        self._exemplars[identity_id].vectors.append(unit)
        self._exemplar_owner[exemplar_id] = identity_id

    def _delete_exemplar(self, identity_id: int, exemplar_id: int) -> None:
        self._db.execute("DELETE FROM exemplars WHERE id = ?", (exemplar_id,))
        self._index.remove_ids(np.array([exemplar_id], np.int64))
        group = self._exemplars[identity_id]
        position = group.ids.index(exemplar_id)
        del group.ids[position]
        del group.vectors[position]
        del self._exemplar_owner[exemplar_id]

    def _enforce_identity_bound(self, keep: int) -> None:
        excess = len(self._exemplars) - self.config.max_identities
        if excess <= 0:
            return
        # Forget the identities seen longest ago that nobody has labelled; never `keep`, the
        # identity just created, which the caller is about to use.
        rows = self._db.execute(
            "SELECT id FROM identities WHERE label IS NULL AND id != ? ORDER BY last_seen LIMIT ?",
            (keep, excess),
        ).fetchall()
        for (identity_id,) in rows:
            self._forget(identity_id)

    # -- identity management ------------------------------------------------------------------

    def canonical(self, identity_id: int) -> int | None:
        """The identity an ID now stands for (after merges), or None when it was deleted."""
        with self._lock:
            seen = set()
            while identity_id in self._aliases and identity_id not in seen:
                seen.add(identity_id)
                identity_id = self._aliases[identity_id]
            return identity_id if identity_id in self._exemplars else None

    def label(self, identity_id: int) -> str | None:
        with self._lock:
            return self._labels.get(identity_id)

    def set_label(self, identity_id: int, label: str | None) -> None:
        with self._lock:
            self._require(identity_id)
            with self._transaction():
                self._db.execute(
                    "UPDATE identities SET label = ? WHERE id = ?", (label, identity_id)
                )
            self._labels[identity_id] = label

    def delete(self, identity_id: int) -> None:
        with self._lock:
            self._require(identity_id)
            with self._transaction():
                self._forget(identity_id)

    def merge(self, target_id: int, source_id: int) -> None:
        """Fold `source_id` into `target_id`: exemplars, sightings and (if unset) the label."""
        if target_id == source_id:
            raise GalleryError("cannot merge an identity into itself")
        with self._lock:
            self._require(target_id)
            self._require(source_id)
            self.flush()
            source_vectors = list(self._exemplars[source_id].vectors)
            with self._transaction():
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
                label = self._db.execute(
                    "SELECT label FROM identities WHERE id = ?", (target_id,)
                ).fetchone()[0]
                self._forget(source_id)
                self._db.execute(
                    "INSERT OR REPLACE INTO aliases(old_id, new_id) VALUES (?, ?)",
                    (source_id, target_id),
                )
            self._labels[target_id] = label
            self._aliases[source_id] = target_id
            for key, sighting in list(self._open_sightings.items()):
                if sighting.identity_id == source_id:
                    del self._open_sightings[key]
            for vector in source_vectors:
                self.add_exemplar(target_id, vector)

    def _forget(self, identity_id: int) -> None:
        for exemplar_id in list(self._exemplars[identity_id].ids):
            self._delete_exemplar(identity_id, exemplar_id)
        self._db.execute("DELETE FROM identities WHERE id = ?", (identity_id,))
        del self._exemplars[identity_id]
        self._labels.pop(identity_id, None)
        for key in [k for k in self._open_sightings if k[0] == identity_id]:
            del self._open_sightings[key]

    def _require(self, identity_id: int) -> None:
        if identity_id not in self._exemplars:
            raise KeyError(identity_id)

    # -- sightings ----------------------------------------------------------------------------

    def record_sighting(
        self, identity_id: int, source: str, track_id: int, media_s: float, now: float
    ) -> None:
        """Note that `identity_id` is in view on `source` (kept in memory until `flush`)."""
        with self._lock:
            if identity_id not in self._exemplars:
                return
            key = (identity_id, source, track_id)
            sighting = self._open_sightings.get(key)
            if sighting is None:
                self._open_sightings[key] = _OpenSighting(
                    None, identity_id, source, track_id, now, now, media_s, media_s
                )
                return
            sighting.last_seen = max(sighting.last_seen, now)
            sighting.last_media_s = max(sighting.last_media_s, media_s)
            sighting.dirty = True

    def end_sighting(self, identity_id: int, source: str, track_id: int) -> None:
        """The track is gone: write its sighting and stop keeping it in memory."""
        with self._lock:
            sighting = self._open_sightings.pop((identity_id, source, track_id), None)
            if sighting is not None and identity_id in self._exemplars:
                with self._transaction():
                    self._write_sighting(sighting)

    def flush(self) -> None:
        """Write every changed sighting (and identities' first/last seen) to the database."""
        with self._lock:
            dirty = [s for s in self._open_sightings.values() if s.dirty]
            if not dirty:
                return
            with self._transaction():
                for sighting in dirty:
                    self._write_sighting(sighting)

    def _write_sighting(self, sighting: _OpenSighting) -> None:
        values = (
            sighting.first_seen,
            sighting.last_seen,
            sighting.first_media_s,
            sighting.last_media_s,
        )
        if sighting.row_id is None:
            cursor = self._db.execute(
                "INSERT INTO sightings(identity_id, source, track_id, first_seen, last_seen, "
                "first_media_s, last_media_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sighting.identity_id, sighting.source, sighting.track_id, *values),
            )
            sighting.row_id = int(cursor.lastrowid or 0)
            self._trim_sightings(sighting.identity_id)
        else:
            self._db.execute(
                "UPDATE sightings SET first_seen = ?, last_seen = ?, first_media_s = ?, "
                "last_media_s = ? WHERE id = ?",
                (*values, sighting.row_id),
            )
        self._db.execute(
            "UPDATE identities SET first_seen = MIN(first_seen, ?), "
            "last_seen = MAX(last_seen, ?) WHERE id = ?",
            (sighting.first_seen, sighting.last_seen, sighting.identity_id),
        )
        sighting.dirty = False

    def _trim_sightings(self, identity_id: int) -> None:
        self._db.execute(
            "DELETE FROM sightings WHERE identity_id = ? AND id NOT IN (SELECT id FROM "
            "sightings WHERE identity_id = ? ORDER BY last_seen DESC LIMIT ?)",
            (identity_id, identity_id, MAX_SIGHTINGS_PER_IDENTITY),
        )

    # -- reading ------------------------------------------------------------------------------

    def identity(self, identity_id: int) -> IdentityRecord:
        with self._lock:
            self._require(identity_id)
            self.flush()
            row = self._db.execute(f"{_RECORD_SELECT} WHERE i.id = ?", (identity_id,)).fetchone()
            return self._record(row)

    def identities(self, offset: int = 0, limit: int = 50) -> tuple[list[IdentityRecord], int]:
        """A page of identities, most recently seen first, and the total count."""
        with self._lock:
            self.flush()
            rows = self._db.execute(
                f"{_RECORD_SELECT} ORDER BY i.last_seen DESC, i.id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            total = int(self._db.execute("SELECT COUNT(*) FROM identities").fetchone()[0])
            return [self._record(row) for row in rows], total

    def _record(
        self, row: tuple[int, str | None, float, float, float, int, str | None]
    ) -> IdentityRecord:
        identity_id = row[0]
        return IdentityRecord(
            identity_id=identity_id,
            label=row[1],
            created_at=row[2],
            first_seen=row[3],
            last_seen=row[4],
            exemplars=len(self._exemplars[identity_id].ids),
            sources=tuple(row[6].split(_SOURCE_SEPARATOR)) if row[6] else (),
            has_thumbnail=bool(row[5]),
        )

    def sightings(self, identity_id: int, limit: int = 20) -> list[Sighting]:
        with self._lock:
            self._require(identity_id)
            self.flush()
            rows = self._db.execute(
                "SELECT source, track_id, first_seen, last_seen, first_media_s, last_media_s "
                "FROM sightings WHERE identity_id = ? ORDER BY last_seen DESC LIMIT ?",
                (identity_id, limit),
            ).fetchall()
            return [Sighting(*row) for row in rows]

    def thumbnail(self, identity_id: int) -> bytes | None:
        with self._lock:
            self._require(identity_id)
            row = self._db.execute(
                "SELECT thumbnail FROM identities WHERE id = ?", (identity_id,)
            ).fetchone()
            return None if row is None else row[0]
